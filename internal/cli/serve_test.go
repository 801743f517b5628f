package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/remote"
	"github.com/meshbench/meshbench/internal/results"
)

// lineWatch is a stderr that reports the first line matching re.
type lineWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	once  sync.Once
}

func (l *lineWatch) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	if m := l.re.FindStringSubmatch(l.buf.String()); m != nil {
		l.once.Do(func() { l.found <- m[1] })
	}
	return len(b), nil
}

// TestServeAndRunRemote: `serve` on 127.0.0.1 and `run --remote` against
// it, in-process: the run measures the server's direct path and records
// both hosts; a wrong token file is refused with exit 2; serve ends with
// exit 0 when interrupted.
func TestServeAndRunRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	watch := &lineWatch{re: regexp.MustCompile(`control API on https://(\S+),`), found: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan int, 1)
	go func() {
		served <- Main(ctx, World{Args: []string{"serve", "--listen", "127.0.0.1:0", "--token-file", token}, Stderr: watch, Self: testBinary(t)})
	}()
	var addr string
	select {
	case addr = <-watch.found:
	case code := <-served:
		t.Fatalf("serve ended with %d: %s", code, watch.buf.String())
	}
	out := filepath.Join(dir, "out")
	stdout, stderr, code := runCLI(t, context.Background(), "run", "--remote", "https://"+addr, "--token-file", token,
		"--paths", "direct", "--rate", "200", "--duration", "1s", "--warmup", "200ms", "--out", out, "--format", "json")
	if code != 0 {
		t.Fatalf("run --remote: exit %d: %s", code, stderr)
	}
	var f results.File
	if err := json.Unmarshal([]byte(stdout), &f); err != nil {
		t.Fatal(err)
	}
	if f.ServerHost == nil || f.Agent != nil || len(f.Paths) != 2 || !strings.Contains(strings.Join(f.Notes, " "), "two hosts") {
		t.Fatalf("result: server host %v, agent %v, %d rows, notes %v", f.ServerHost, f.Agent, len(f.Paths), f.Notes)
	}
	for _, p := range f.Paths {
		if p.Errors != 0 || p.Requests < 150 || p.ServerHostStats == nil || p.HostStats == nil {
			t.Errorf("%s: %d requests, %d errors, host stats %v, server's %v", p.Name, p.Requests, p.Errors, p.HostStats != nil, p.ServerHostStats != nil)
		}
	}
	// The same token file with another token: refused, exit 2.
	creds, err := remote.ReadCredentials(token)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(token)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, bytes.ReplaceAll(data, []byte(creds.Token), []byte(strings.Repeat("f", 64))), 0o600)
	_, stderr, code = runCLI(t, context.Background(), "run", "--remote", "https://"+addr, "--token-file", wrong, "--paths", "direct", "--out", out)
	if code != 2 {
		t.Errorf("a wrong token: exit %d, want 2", code)
	}
	oneLine(t, stderr, "401")
	cancel()
	if code := <-served; code != 0 {
		t.Errorf("serve after an interrupt: exit %d: %s", code, watch.buf.String())
	}
}

func TestServeAndRunBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("token "+strings.Repeat("a", 64)+"\ncert-sha256 "+strings.Repeat("ab", 32)+"\n"), 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--token-file", token}, "--listen"},
		{[]string{"serve", "--listen", ":7400", "--token-file", token}, "want IP:PORT"},
		{[]string{"serve", "--listen", "localhost:7400", "--token-file", token}, "want IP:PORT"},
		{[]string{"serve", "--listen", "127.0.0.1:7400", "--token-file", token, "--path-ports", "haproxy=7400"}, "control API's port"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--token-file", token, "--path-ports", "haproxy=7402,nginx=7402"}, "port 7402 given to both"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--token-file", token, "--path-ports", "haproxy"}, "NAME=PORT"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--token-file", token, "--path-ports", "haproxy=70000"}, "1 to 65535"},
		{[]string{"run", "--share", "1/2", "--paths", "direct"}, "need --remote"},
		{[]string{"run", "--remote", "https://127.0.0.1:1", "--paths", "direct"}, "--token-file"},
		{[]string{"run", "--remote", "https://127.0.0.1:1", "--token-file", token, "--share", "3/2"}, "--share \"3/2\""},
		{[]string{"run", "--remote", "https://127.0.0.1:1", "--token-file", token, "--share", "1/2", "--share-count", "2"}, "give one"},
		{[]string{"run", "--remote", "http://127.0.0.1:1", "--token-file", token}, "want https://HOST:PORT"},
		{[]string{"run", "--remote", "https://127.0.0.1:1", "--token-file", token, "--target", "http://127.0.0.1:1"}, "--target and --remote"},
		{[]string{"run", "--remote", "https://127.0.0.1:1", "--token-file", filepath.Join(dir, "none")}, "--token-file"},
	}
	for _, c := range cases {
		_, stderr, code := runCLI(t, context.Background(), c.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr)
			continue
		}
		oneLine(t, stderr, c.want)
	}
}

func TestParseShare(t *testing.T) {
	env := map[string]string{"IDX": "1", "BAD": "x"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		o    remoteOptions
		want remote.Share
		ok   bool
	}{
		{remoteOptions{}, remote.Share{Index: 1, Count: 1}, true},
		{remoteOptions{share: "2/3"}, remote.Share{Index: 2, Count: 3}, true},
		{remoteOptions{shareIndexEnv: "IDX", shareCount: 2}, remote.Share{Index: 2, Count: 2}, true},
		{remoteOptions{shareIndexEnv: "IDX", shareCount: 1}, remote.Share{}, false},
		{remoteOptions{shareIndexEnv: "BAD", shareCount: 2}, remote.Share{}, false},
		{remoteOptions{shareIndexEnv: "IDX"}, remote.Share{}, false},
		{remoteOptions{share: "0/2"}, remote.Share{}, false},
		{remoteOptions{share: "2"}, remote.Share{}, false},
	} {
		got, err := parseShare(c.o, getenv)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseShare(%+v) = %v, %v; want %v ok=%v", c.o, got, err, c.want, c.ok)
		}
	}
}

// TestMerge: merge writes one result from two agents' files and refuses
// files that are not every agent of one run.
func TestMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var names []string
	for i := 1; i <= 2; i++ {
		h := results.NewHistogram()
		for v := range 100 * i {
			h.RecordValue(int64(1e6 + v*1000))
		}
		enc, _ := results.EncodeHistogram(h)
		f := &results.File{
			Schema: results.Schema, Scenario: json.RawMessage(`{"name":"s"}`), Host: results.Host{Hostname: "a"},
			StartedAt: time.Date(2026, 11, 22, 12, 0, i, 0, time.UTC), Agent: &results.Agent{Index: i, Count: 2},
			Paths: []results.Path{{Name: "direct", Kind: "direct", Trial: 1, Baseline: true, Requests: h.TotalCount(), Histogram: enc, ServiceHistogram: enc, TargetRate: 100}},
		}
		name, err := results.Write(filepath.Join(dir, "agent"+string(rune('0'+i))), "r.json", f)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	out := filepath.Join(dir, "merged")
	stdout, stderr, code := runCLI(t, context.Background(), append([]string{"merge", "--out", out, "--format", "json"}, names...)...)
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	var m results.File
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Paths) != 1 || m.Paths[0].Requests != 300 || m.Paths[0].LatencyMs.Count != 300 || m.Paths[0].TargetRate != 200 || len(resultFiles(t, out)) != 1 {
		t.Errorf("merged: %+v, files %v", m.Paths, resultFiles(t, out))
	}
	_, stderr, code = runCLI(t, context.Background(), "merge", "--out", out, names[0])
	if code != 2 {
		t.Errorf("merge of one of two agents: exit %d, want 2", code)
	}
	oneLine(t, stderr, "all 2 agents, once each (1 given)")
}
