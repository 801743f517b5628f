package sidecarcmd

import (
	"bytes"
	"context"
	"encoding/json"
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
