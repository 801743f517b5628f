package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/results"
)

func TestProgressPlain(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newProgress(&b, false)
	p.phase(1, 2, "haproxy", 2, 3, "starting")
	p.load("haproxy", load.Progress{Phase: load.PhaseMeasure, Elapsed: 250 * time.Millisecond, Total: 10 * time.Second, Sent: 250})
	// A second update soon after is not printed: a log gets a line per
	// phase and one every few seconds, not four a second.
	p.load("haproxy", load.Progress{Phase: load.PhaseMeasure, Elapsed: 500 * time.Millisecond, Total: 10 * time.Second, Sent: 500})
	p.done(&results.Path{Name: "haproxy", Requests: 10000, AchievedRate: 1000, LatencyMs: results.Percentiles{P50: 0.1, P99: 0.3},
		Proxy: &results.Proxy{CPUSeconds: 0.5, MaxRSSBytes: 15 << 20}})
	got := b.String()
	want := []string{
		"[1/2] haproxy, round 2/3: starting\n",
		"  haproxy measure 0s/10s: 250 sent, 0 errors\n",
		"  haproxy: p50 0.100 ms, p99 0.300 ms, 10000 requests at 1000/s, 0 errors, proxy 0.50 CPU s, 15.0 MB peak RSS\n",
	}
	if got != strings.Join(want, "") {
		t.Errorf("got\n%q\nwant\n%q", got, strings.Join(want, ""))
	}
	if strings.Contains(got, "\r") {
		t.Errorf("plain output has carriage returns")
	}
}

// TestProgressAddedRound: a round a gated run adds after its planned ones
// says so, rather than "round 6/5".
func TestProgressAddedRound(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newProgress(&b, false)
	p.rounds, p.maxRounds = 5, 8
	p.phase(3, 9, "haproxy", 6, p.rounds, "measuring")
	if want := "[3/9] haproxy, round 6 (added for the gates, at most 8): measuring\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestProgressTTY(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := newProgress(&b, true)
	p.load("nginx", load.Progress{Phase: load.PhaseWarmup, Elapsed: time.Second, Total: 2 * time.Second, Sent: 1000})
	p.Line("next")
	got := b.String()
	if !strings.HasPrefix(got, "\r\033[K  nginx") || !strings.Contains(got, "[############............]") || !strings.Contains(got, "1.0s/2.0s") {
		t.Errorf("bar %q", got)
	}
	// A line after a bar first clears it, so the two never share a row.
	if !strings.HasSuffix(got, "errors\r\033[Knext\n") {
		t.Errorf("line after bar %q", got)
	}
}
