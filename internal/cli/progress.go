package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
)

// progress tells on stderr what a run is doing: a line per phase, and on a
// terminal a bar that redraws in place while load runs. It is the run's
// runner.Observer.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	// bar is true while the last thing written is an unfinished bar line.
	bar bool
	// last is when a plain progress line was last written, to keep a log
	// readable: one line per phase and then one every few seconds.
	last time.Time
	// rounds is the plan's rounds per step, for "round 2/3"; maxRounds
	// the cap on rounds a gated run may add after them.
	rounds, maxRounds int
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

// Line prints a note on a line of its own.
func (p *progress) Line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBar()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) clearBar() {
	if p.bar {
		fmt.Fprint(p.w, "\r\033[K")
		p.bar = false
	}
}

// Window announces a path in its round. A path measured in several
// interleaved windows is announced at its first; on a terminal the bar
// shows every window.
func (p *progress) Window(w runner.Window, what string) {
	if w.Slices > 1 {
		if w.Slice > 1 {
			return
		}
		what = fmt.Sprintf("%s in %d windows of %s, interleaved", what, w.Slices, w.Len)
	}
	p.phase(w.N, w.Total, w.Path.Name, w.Trial, p.rounds, what)
}

func (p *progress) phase(n, total int, name string, trial, trials int, what string) {
	round := ""
	switch {
	case trial > trials:
		round = fmt.Sprintf(", round %d (added for the gates, at most %d)", trial, p.maxRounds)
	case trials > 1:
		round = fmt.Sprintf(", round %d/%d", trial, trials)
	}
	p.Line("[%d/%d] %s%s: %s", n, total, name, round, what)
}

// Load redraws the bar, or prints a line every few seconds of a long window.
func (p *progress) Load(w runner.Window, s load.Progress) {
	if w.Slices > 1 && !p.tty {
		return
	}
	p.load(w.Path.Name, s)
}

// Done prints a window's headline figures.
func (p *progress) Done(_ runner.Window, r *results.Path) { p.done(r) }

// load is called by the load engine about every 250 ms.
func (p *progress) load(name string, s load.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		frac := 0.0
		if s.Total > 0 {
			frac = min(1, float64(s.Elapsed)/float64(s.Total))
		}
		const width = 24
		fill := int(frac * width)
		fmt.Fprintf(p.w, "\r\033[K  %-12s %-7s [%s%s] %5.1fs/%.1fs %8d sent %6d errors",
			name, s.Phase, strings.Repeat("#", fill), strings.Repeat(".", width-fill),
			s.Elapsed.Seconds(), s.Total.Seconds(), s.Sent, s.Errors)
		p.bar = true
		return
	}
	// Plain output: say when a phase starts, then every 5 s.
	if s.Elapsed > 300*time.Millisecond && time.Since(p.last) < 5*time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "  %s %s %.0fs/%.0fs: %d sent, %d errors\n", name, s.Phase, s.Elapsed.Seconds(), s.Total.Seconds(), s.Sent, s.Errors)
}

// done prints one path's headline figures.
func (p *progress) done(r *results.Path) {
	extra := ""
	if r.Proxy != nil {
		// MB as the table counts them, 2^20 bytes.
		extra = fmt.Sprintf(", proxy %.2f CPU s, %.1f MB peak RSS", r.Proxy.CPUSeconds, float64(r.Proxy.MaxRSSBytes)/(1<<20))
		if r.Proxy.Processes > 1 && r.Proxy.MaxProcessRSSBytes > 0 {
			extra += fmt.Sprintf(" over %d processes (largest %.1f MB)", r.Proxy.Processes, float64(r.Proxy.MaxProcessRSSBytes)/(1<<20))
		}
	}
	p.Line("  %s: p50 %.3f ms, p99 %.3f ms, %d requests at %.0f/s, %d errors%s",
		r.Name, r.LatencyMs.P50, r.LatencyMs.P99, r.Requests, r.AchievedRate, r.Errors, extra)
}
