package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// resultFiles lists the result files in dir.
func resultFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// onlyResult reads the one result file a run wrote to dir, failing t unless
// there is exactly one and it reads back.
func onlyResult(t *testing.T, dir string) *results.File {
	t.Helper()
	fs := resultFiles(t, dir)
	if len(fs) != 1 {
		t.Fatalf("result files %v", fs)
	}
	f, err := results.Read(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRunBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("name: x\nrate: 100\nduraton: 3s\n"), 0o600)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	// A port nothing listens on: bind one and close it.
	l, err := (&net0{}).free()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--paths", "direct,frob"}, `unknown kind "frob"`},
		{[]string{"run", "--paths", "direct", "--rate", "0"}, "rate must be above 0"},
		{[]string{"run", "--paths", "direct", "--rate", "-5"}, "rate must be above 0"},
		{[]string{"run", "--paths", "direct", "--duration", "0s"}, "duration must be above 0"},
		{[]string{"run", "--paths", "direct", "--connections", "0"}, "connections must be at least 1"},
		{[]string{"run", "--paths", "direct", "--format", "xml"}, `--format "xml"`},
		{[]string{"run", badYAML}, "bad.yaml:3:1"},
		{[]string{"run", "--paths", "direct", "--out", notDir}, notDir},
		{[]string{"run", "--target", "http://" + l}, "unreachable"},
		{[]string{"run", "--target", "ftp://x"}, "not an http"},
		{[]string{"run", "--paths", "direct", "--rate", "abc"}, "invalid argument"},
	}
	for _, c := range cases {
		out := t.TempDir()
		args := c.args
		if !slices.Contains(args, "--out") {
			args = append(args, "--out", out)
		}
		stdout, stderr, code := runCLI(t, context.Background(), args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr)
		}
		oneLine(t, stderr, c.want)
		if stdout != "" {
			t.Errorf("%v: printed %q on stdout", c.args, stdout)
		}
		if fs := resultFiles(t, out); len(fs) > 0 {
			t.Errorf("%v: wrote %v", c.args, fs)
		}
	}
}

type net0 struct{}

// free returns a loopback address nothing listens on.
func (net0) free() (string, error) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr, nil
}

func TestRunDirect(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, context.Background(), "run", "--paths", "direct", "--rate", "500",
		"--duration", "3s", "--warmup", "1s", "--out", out, "--no-host-stats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fs := resultFiles(t, out)
	if len(fs) != 1 {
		t.Fatalf("result files %v", fs)
	}
	if !strings.Contains(stderr, "result: "+fs[0]) {
		t.Errorf("stderr does not name the result: %q", stderr)
	}
	f, err := results.Read(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	// direct and the A/A path beside it, each in 3 interleaved windows.
	if len(f.Paths) != 2 || f.Interrupted || f.Paths[1].Name != results.AAName {
		t.Fatalf("paths %d interrupted %v", len(f.Paths), f.Interrupted)
	}
	if len(f.Summary) != 2 || f.Summary[1].Pairs != 3 || f.Paths[0].Windows == nil || len(f.Paths[0].Windows) != 3 {
		t.Errorf("summary %+v, windows %+v", f.Summary, f.Paths[0].Windows)
	}
	p := f.Paths[0]
	if math.Abs(p.AchievedRate-500)/500 > 0.02 {
		t.Errorf("achieved rate %.1f, want 500 ± 2%%", p.AchievedRate)
	}
	if p.Requests < 1470 || p.Requests > 1530 {
		t.Errorf("requests %d, want about 1500", p.Requests)
	}
	if p.Errors != 0 {
		t.Errorf("errors %d %v", p.Errors, p.ErrorsByClass)
	}
	if p.WindowStart.IsZero() || p.WindowStart.Before(f.StartedAt.Add(-time.Minute)) {
		t.Errorf("window start %v, run started %v", p.WindowStart, f.StartedAt)
	}
	if p.LatencyMs.P50 <= 0 || p.LatencyMs.P99 < p.LatencyMs.P50 {
		t.Errorf("latency %+v", p.LatencyMs)
	}
	if !strings.Contains(stdout, "direct") {
		t.Errorf("table has no direct row:\n%s", stdout)
	}
	if len(f.Notes) == 0 || !strings.Contains(f.Notes[0], "share") {
		t.Errorf("notes %v: want the shared-CPU caveat", f.Notes)
	}
	var sc struct {
		Rate struct{ RPS float64 }
	}
	if err := json.Unmarshal(f.Scenario, &sc); err != nil || sc.Rate.RPS != 500 {
		t.Errorf("scenario as run: %s (%v)", f.Scenario, err)
	}
}

func TestRunTargetAndJSON(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, context.Background(), "run", "--target", srv.URL, "--rate", "200",
		"--duration", "1s", "--warmup", "200ms", "--out", out, "--format", "json", "--no-host-stats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var f results.File
	if err := json.Unmarshal([]byte(stdout), &f); err != nil {
		t.Fatalf("stdout is not the result JSON: %v\n%s", err, stdout)
	}
	if len(f.Paths) != 2 || f.Paths[0].Name != "direct" || f.Paths[0].Requests < 190 || f.Paths[1].Name != results.AAName {
		t.Errorf("paths %+v", f.Paths)
	}
}

// TestRunInterrupted runs the real binary, interrupts it with SIGINT during
// the measured window and checks the exit code, the partial file and that
// no child is left.
func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command(testBinary(t), "run", "--paths", "direct,linkerd", "--rate", "200",
		"--duration", "2s", "--window", "2s", "--warmup", "500ms", "--out", out, "--no-host-stats")
	var stderr syncBuffer
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt in the middle of linkerd's measured window, with its
	// sidecar running: the progress line that opens the window says when.
	inWindow, eof := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(pipe)
		seen := false
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !seen && strings.HasPrefix(sc.Text(), "  linkerd measure") {
				seen = true
				close(inWindow)
			}
		}
	}()
	select {
	case <-inWindow:
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("linkerd's window never opened")
	}
	kids := childrenOf(t, cmd.Process.Pid)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() {
		<-eof // Wait closes the pipe: read it to its end first
		done <- cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("run did not stop after SIGINT: %s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130: %s", code, stderr.String())
	}
	fs := resultFiles(t, out)
	if len(fs) != 1 {
		t.Fatalf("result files %v: %s", fs, stderr.String())
	}
	f, err := results.Read(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !f.Interrupted || len(f.Paths) != 2 || f.Paths[1].Requests == 0 {
		t.Fatalf("interrupted %v, paths %d", f.Interrupted, len(f.Paths))
	}
	if p := f.Paths[1]; p.Name != "linkerd" || len(p.Warnings) == 0 || !strings.Contains(strings.Join(p.Warnings, ";"), "interrupted") {
		t.Errorf("partial path %s warnings %v", p.Name, p.Warnings)
	}
	if len(kids) == 0 {
		t.Errorf("no sidecar child was running when interrupted")
	}
	for _, pid := range kids {
		if running(pid) {
			t.Errorf("child %d is still alive after meshbench exited", pid)
		}
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(e.Name())
			out = append(out, n)
		}
	}
	return out
}

// TestRunGates: a scenario's gate that fails makes run exit 3, after the
// result was written and the table printed.
func TestRunGates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		gate string
		code int
	}{
		{"direct.p50<=1us", 3},
		{"direct.error_rate<=1", 0},
	} {
		sc := filepath.Join(dir, "gated.yaml")
		os.WriteFile(sc, []byte("name: gated\npaths: [direct]\nrate: 200\nduration: 1s\nwarmup: 200ms\ngates: [\""+c.gate+"\"]\n"), 0o600)
		out := t.TempDir()
		stdout, stderr, code := runCLI(t, context.Background(), "run", sc, "--out", out, "--no-host-stats")
		if code != c.code {
			t.Errorf("%s: exit %d, want %d: %s", c.gate, code, c.code, stderr)
		}
		if len(resultFiles(t, out)) != 1 || !strings.Contains(stdout, "direct") {
			t.Errorf("%s: files %v, stdout %q", c.gate, resultFiles(t, out), stdout)
		}
		if !strings.Contains(stderr, "gate: ") {
			t.Errorf("%s: outcome not printed: %q", c.gate, stderr)
		}
	}
}

// TestRunSweep measures each path at each rate of a sweep, and report and
// gate see a row per path and step.
func TestRunSweep(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, context.Background(), "run", "--paths", "direct", "--sweep", "100,200",
		"--duration", "1s", "--warmup", "200ms", "--out", out, "--no-host-stats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f := onlyResult(t, out)
	if len(f.Paths) != 4 {
		t.Fatalf("%d paths", len(f.Paths))
	}
	for i, want := range []float64{100, 200} {
		p := f.Paths[2*i] // each step: direct, then direct-aa
		if p.Name != "direct" || p.Step != i+1 || p.Trial != i+1 || p.TargetRate != want || p.Requests < int64(want)*98/100 {
			t.Errorf("step %d: %+v", i+1, p)
		}
	}
	for _, row := range []string{"direct@100rps", "direct@200rps", "sweep 100, 200 req/s"} {
		if !strings.Contains(stdout, row) {
			t.Errorf("table lacks %q:\n%s", row, stdout)
		}
	}
	gout, gerr, code := runCLI(t, context.Background(), "gate", resultFiles(t, out)[0], "--max", "direct@200rps.error_rate<=1")
	if code != 0 || !strings.Contains(gout, "direct@200rps") {
		t.Errorf("gate: exit %d, %q %q", code, gout, gerr)
	}
	_, stderr, code = runCLI(t, context.Background(), "run", "--paths", "direct", "--sweep", "100", "--rate", "5", "--out", out)
	if code != 2 {
		t.Errorf("--sweep with --rate: exit %d", code)
	}
	oneLine(t, stderr, "give one")
}

// syncBuffer is a strings.Builder that one goroutine writes while another
// may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunDiskFull: when the result file cannot be written because its
// disk is full, the table still reaches stdout and the error says why.
// It needs a tmpfs of its own, so it runs only where mounting is allowed.
func TestRunDiskFull(t *testing.T) {
	t.Parallel()
	full := t.TempDir()
	if err := syscall.Mount("tmpfs", full, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() { syscall.Unmount(full, syscall.MNT_DETACH) })
	filler, err := os.Create(filepath.Join(full, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = filler.Write(make([]byte, 4096))
	}
	filler.Close()
	if !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	stdout, stderr, code := runCLI(t, context.Background(), "run", "--target", srv.URL, "--rate", "100",
		"--duration", "500ms", "--warmup", "100ms", "--out", full, "--no-host-stats")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	// The progress lines come first; the error is the last line.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "meshbench: writing the result: ") || !strings.HasSuffix(last, "no space left on device") {
		t.Errorf("stderr ends %q", last)
	}
	if !strings.Contains(stdout, "direct") || !strings.Contains(stdout, "p99") {
		t.Errorf("the table was lost:\n%s", stdout)
	}
	if fs := resultFiles(t, full); len(fs) != 0 {
		t.Errorf("result files on the full disk: %v", fs)
	}
}

// TestRunProfile: run --profile leaves meshbench's own profiles and those of
// the sidecar the linkerd path started in one directory, and a directory
// that cannot be made is bad input before anything runs.
func TestRunProfile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "prof")
	out := t.TempDir()
	cmd := exec.Command(testBinary(t), "run", "--paths", "direct,linkerd", "--rate", "200",
		"--duration", "1s", "--window", "1s", "--warmup", "200ms", "--out", out, "--no-host-stats", "--profile", dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	for _, prefix := range []string{"meshbench-run-", "sidecar-outbound-"} {
		for _, kind := range []string{"cpu.pprof", "heap.pprof", "block.pprof", "mutex.pprof", "trace.out"} {
			m, _ := filepath.Glob(filepath.Join(dir, prefix+"*-"+kind))
			if len(m) != 1 {
				t.Errorf("%s*-%s: %d files", prefix, kind, len(m))
				continue
			}
			b, err := os.ReadFile(m[0])
			gzipped := len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b
			if err != nil || (kind == "trace.out") == gzipped {
				t.Errorf("%s: %d bytes (gzip %v), %v", m[0], len(b), gzipped, err)
			}
		}
	}
	bad := exec.Command(testBinary(t), "run", "--paths", "direct", "--duration", "1s", "--out", out, "--profile", "/dev/null/prof")
	b, err := bad.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), "--profile") {
		t.Errorf("bad --profile: %v\n%s", err, b)
	}
}
