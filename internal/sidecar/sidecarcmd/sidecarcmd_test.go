package sidecarcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMainBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag"},
		{[]string{"--mode", "sideways", "--upstream", "127.0.0.1:1"}, `--mode "sideways"`},
		{[]string{"--upstream", "127.0.0.1:1", "--procs", "0"}, "--procs"},
		{[]string{"--upstream", "127.0.0.1:1", "--ready-file", "/nonexistent-meshbench-dir/ready.json"}, "--ready-file"},
		{[]string{"--upstream", "127.0.0.1:1", "--max-pending", "0"}, "max_pending"},
		{[]string{"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--profile", "/dev/null/prof"}, "--profile"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), c.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%q)", c.args, code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "meshbench-sidecar: ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("%v: stderr %q, want one line with %q", c.args, errb.String(), c.want)
		}
	}
}

// TestMainServes runs the command as the lean binary would: it proxies to
// an upstream until its context ends, then exits 0.
func TestMainServes(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer up.Close()
	ready := filepath.Join(t.TempDir(), "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--listen", "127.0.0.1:0", "--upstream", up.Listener.Addr().String(), "--ready-file", ready}, &bytes.Buffer{}, &errb)
	}()
	var addrs struct{ Listen string }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &addrs) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ready file")
		}
	}
	resp, err := http.Get("http://" + addrs.Listen + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.String() != "hello" {
		t.Errorf("through the sidecar: %d %q", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after its context ended: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar did not stop when its context ended")
	}
}

// TestMainReadyFileFails: a ready file that cannot be written stops the
// sidecar with exit 1 and one line, rather than leave it running unseen.
func TestMainReadyFileFails(t *testing.T) {
	t.Parallel()
	// A non-empty directory where the file should go: the directory above
	// it exists, so the flag passes, and the rename onto it fails.
	ready := filepath.Join(t.TempDir(), "ready.json")
	if err := os.MkdirAll(filepath.Join(ready, "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--ready-file", ready}, &bytes.Buffer{}, &errb)
	}()
	select {
	case code := <-done:
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "ready file") {
			t.Errorf("exit %d, stderr %q; want 1 and one line about the ready file", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar kept running without its ready file")
	}
}

// TestMainProfile: --profile leaves a CPU profile and a trace of the run,
// and heap, block and mutex profiles, once the sidecar stops.
func TestMainProfile(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer up.Close()
	dir := filepath.Join(t.TempDir(), "prof")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"--listen", "127.0.0.1:0", "--upstream", up.Listener.Addr().String(), "--profile", dir},
			&bytes.Buffer{}, &lineWatch{w: &errb, first: addrs})
	}()
	var listen string
	select {
	case l := <-addrs:
		_, rest, _ := strings.Cut(l, "listening on ")
		listen, _, _ = strings.Cut(rest, ",")
	case code := <-done:
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for range 20 {
		resp, err := http.Get("http://" + listen + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// What each file holds is internal/profiling's test; here, that the
	// sidecar wrote all five under its own name.
	prefix := filepath.Join(dir, fmt.Sprintf("sidecar-outbound-%d-", os.Getpid()))
	for _, kind := range []string{"cpu.pprof", "heap.pprof", "block.pprof", "mutex.pprof", "trace.out"} {
		if fi, err := os.Stat(prefix + kind); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", kind, err)
		}
	}
}

// lineWatch passes writes on to w and sends the first line to first.
type lineWatch struct {
	w     io.Writer
	first chan string
	line  []byte
	sent  bool
}

func (l *lineWatch) Write(b []byte) (int, error) {
	if !l.sent {
		l.line = append(l.line, b...)
		if i := bytes.IndexByte(l.line, '\n'); i >= 0 {
			l.sent = true
			l.first <- string(l.line[:i])
		}
	}
	return l.w.Write(b)
}

// The sidecar runs on one P unless told otherwise: --procs wins, then a
// GOMAXPROCS the user put in the environment.
func TestGOMAXPROCS(t *testing.T) {
	for _, c := range []struct {
		procs int
		given bool
		env   string
		want  int
	}{
		{1, false, "", 1},
		{1, false, "4", 0},
		{2, true, "4", 2},
		{3, true, "", 3},
	} {
		if got := gomaxprocs(c.procs, c.given, c.env); got != c.want {
			t.Errorf("gomaxprocs(%d, %v, %q) = %d, want %d", c.procs, c.given, c.env, got, c.want)
		}
	}
}
