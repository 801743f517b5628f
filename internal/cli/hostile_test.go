package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// TestHostileInput holds the bad-input cases of the reliability issue, each
// as a hostile user would try it: the exit code, and one line naming what is
// wrong (a bound by its name where there is one). Every case must fail
// before anything starts.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	good := goodResult(t)
	mutate := func(name string, f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return write(name, string(b))
	}
	firstPath := func(m map[string]any) map[string]any { return m["paths"].([]any)[0].(map[string]any) }
	negative := mutate("negative.json", func(m map[string]any) { firstPath(m)["requests"] = -5; firstPath(m)["errors"] = -1 })
	huge := mutate("huge.json", func(m map[string]any) {
		firstPath(m)["latency_ms"].(map[string]any)["p99"] = 1e308
	})
	schema := mutate("schema.json", func(m map[string]any) { m["schema"] = "meshbench/v9" })
	goodFile := write("good.json", string(good))

	big := strings.Repeat("x", 2<<20)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		// 1. Sizes that would exhaust memory.
		{"connections max int", []string{"run", "--connections", "9223372036854775807"}, 2, "(MaxConnections)"},
		{"connections million", []string{"run", "--connections", "1000000"}, 2, "(MaxConnections)"},
		{"duration centuries", []string{"run", "--duration", "2562047h"}, 2, "(MaxDuration)"},
		{"payload", []string{"run", "--payload", "99999999999"}, 2, "payload 99999999999 is out of range"},
		{"replicas", []string{"run", "--replicas", "100000"}, 2, "(MaxReplicas)"},
		{"trials", []string{"run", "--trials", "1000000"}, 2, "(MaxTrials)"},
		{"sweep steps", []string{"run", "--sweep", strings.TrimSuffix(strings.Repeat("100,", 50), ",")}, 2, "(MaxSweepSteps)"},
		{"template range", []string{"run", write("tmpl.yaml", "paths: [{name: e, kind: exec, exec: {command: [\"/bin/true\"], config: \"{{range 20000000}}x{{end}}\"}}]\n")}, 2, "range over the number 20000000"},
		{"description 2 MB", []string{"run", write("big.yaml", "description: \""+big+"\"\n")}, 2, "(MaxFileBytes)"},
		// 3. Classes validation once missed.
		{"rate NaN flag", []string{"run", "--rate", "NaN"}, 2, "got NaN"},
		{"rate NaN yaml", []string{"run", write("nan.yaml", "rate: .nan\n")}, 2, "nan.yaml:1:7: rate must be above 0"},
		{"linear end NaN", []string{"run", write("end.yaml", "rate: {shape: linear, rps: 10, end: .nan}\n")}, 2, "got 10 and NaN"},
		{"sine amplitude NaN", []string{"run", write("sine.yaml", "rate: {shape: sine, rps: 100, amplitude: .nan, period: 2s}\n")}, 2, "NaN"},
		{"backend error rate NaN", []string{"run", write("er.yaml", "backend: {error_rate: .nan}\n")}, 2, "NaN"},
		{"sweep NaN", []string{"run", "--sweep", "100,NaN"}, 2, "sweep[1]"},
		{"Host header", []string{"run", write("host.yaml", "request: {headers: {Host: x}}\n")}, 2, "request header Host is set by meshbench itself"},
		{"Content-Length header", []string{"run", write("cl.yaml", "request: {headers: {Content-Length: \"5\"}}\n")}, 2, "request header Content-Length"},
		{"control character in path", []string{"run", write("ctl.yaml", "request: {path: \"/a\\x01b\"}\n")}, 2, "is not allowed"},
		{"duration 1ns", []string{"run", "--duration", "1ns"}, 2, "(MinDuration)"},
		{"duplicate key", []string{"run", write("dup.yaml", "rate: 5\nrate: 6\n")}, 2, "key \"rate\" given twice"},
		{"second document", []string{"run", write("two.yaml", "rate: 5\n---\nrate: 6\n")}, 2, "a second YAML document"},
		{"unknown key", []string{"run", write("unk.yaml", "rats: 5\n")}, 2, "rats"},
		{"FIFO scenario", []string{"run", fifo}, 2, "not a regular file"},
		{"bad target scheme", []string{"run", "--target", "ftp://127.0.0.1/"}, 2, "target"},
		{"unknown path kind", []string{"run", "--paths", "direct,frob"}, 2, "frob"},
		{"window beyond duration", []string{"run", "--duration", "2s", "--window", "3s"}, 2, "window must be at most"},
		{"placement", []string{"run", "--placement", "everywhere"}, 2, "placement"},
		// 4. Result files are not trusted.
		{"negative counts", []string{"gate", negative, "--max", "direct.errors<=0"}, 2, "paths[0].requests: -5 is negative"},
		{"p99 1e308", []string{"report", huge}, 2, "1e+308"},
		{"unknown schema", []string{"report", schema}, 2, "meshbench/v9"},
		{"report over its input", []string{"report", goodFile, "--out", goodFile}, 2, "input"},
		{"FIFO result", []string{"report", fifo}, 2, "not a regular file"},
		{"bad gate rule", []string{"gate", goodFile, "--max", "direct.p99<=fast"}, 2, "fast"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := c.args
			if args[0] == "run" {
				args = append(args, "--out", out)
			}
			stdout, stderr, code := runCLI(t, context.Background(), args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr)
			}
			oneLine(t, stderr, c.want)
			if args[0] == "run" && (stdout != "" || len(resultFiles(t, out)) != 0) {
				t.Errorf("bad input still ran: stdout %q, files %v", stdout, resultFiles(t, out))
			}
		})
	}
}

// goodResult is a small valid result file, written by a real run.
func goodResult(t *testing.T) []byte {
	t.Helper()
	out := t.TempDir()
	_, stderr, code := runCLI(t, context.Background(), "run", "--paths", "direct", "--rate", "200",
		"--duration", "600ms", "--warmup", "100ms", "--out", out, "--no-host-stats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fs := resultFiles(t, out)
	if len(fs) != 1 {
		t.Fatalf("files %v", fs)
	}
	b, err := os.ReadFile(fs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := results.Decode(strings.NewReader(string(b))); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNothingOutlivesMeshbench stops a run during nginx's window, by SIGKILL
// and by two quick SIGINTs, and checks by PID that no process it started
// (nginx's master and workers among them) and no temp dir is left a second
// later.
func TestNothingOutlivesMeshbench(t *testing.T) {
	needNginx(t)
	for _, how := range []string{"SIGKILL", "two SIGINTs"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			// Short: nginx's status socket lives under it, and a unix
			// socket path has a small limit.
			tmp, err := os.MkdirTemp("/tmp", "mbh")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(tmp)
			cmd := exec.Command(testBinary(t), "run", "--paths", "nginx", "--rate", "100",
				"--duration", "20s", "--window", "20s", "--warmup", "100ms", "--out", t.TempDir(), "--no-host-stats")
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			pipe, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			inWindow, eof := make(chan struct{}), make(chan struct{})
			var lines syncBuffer
			go func() {
				defer close(eof)
				sc := bufio.NewScanner(pipe)
				seen := false
				for sc.Scan() {
					lines.WriteString(sc.Text() + "\n")
					if !seen && strings.HasPrefix(sc.Text(), "  nginx measure") {
						seen = true
						close(inWindow)
					}
				}
			}()
			select {
			case <-inWindow:
			case <-eof:
				t.Fatalf("meshbench ended before nginx's window opened: %s", lines.String())
			case <-time.After(30 * time.Second):
				t.Fatalf("nginx's window never opened: %s", lines.String())
			}
			started := descendants(cmd.Process.Pid)
			if len(started) < 2 {
				t.Fatalf("meshbench had %d descendants in the window (want nginx's master and worker at least)", len(started))
			}
			if how == "SIGKILL" {
				cmd.Process.Kill()
			} else {
				cmd.Process.Signal(os.Interrupt)
				cmd.Process.Signal(os.Interrupt)
			}
			cmd.Wait()
			// The reaper ends what the parent-death signal cannot reach;
			// give it the second the issue allows, then look.
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) && (anyRunning(started) || dirHolds(tmp)) {
				time.Sleep(20 * time.Millisecond)
			}
			for _, pid := range started {
				if running(pid) {
					t.Errorf("process %d (%s) outlived meshbench by a second", pid, comm(pid))
				}
			}
			if dirHolds(tmp) {
				ents, _ := os.ReadDir(tmp)
				t.Errorf("the temp dir still holds %v", ents)
			}
		})
	}
}

func needNginx(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return
		}
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Fatal("nginx is not installed (scripts/setup.sh installs it)")
	}
}

// descendants lists every process below pid, read from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func anyRunning(pids []int) bool {
	for _, p := range pids {
		if running(p) {
			return true
		}
	}
	return false
}

func dirHolds(dir string) bool {
	ents, _ := os.ReadDir(dir)
	return len(ents) > 0
}

func comm(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}
