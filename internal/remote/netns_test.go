package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/remote"
	"github.com/meshbench/meshbench/internal/results"
)

// The two-machine test stands two network namespaces, joined by a veth
// pair, for two hosts: `meshbench serve` runs in one, `meshbench run
// --remote` in the other, so every request crosses a real network device
// rather than loopback. It needs root and iproute2, creates and removes
// its namespaces itself, and runs only when asked (make test-net).
const netEnv = "MESHBENCH_TEST_NET"

const (
	serverIP = "10.200.0.1"
	clientIP = "10.200.0.2"
	apiPort  = "7400"
)

// netRun are the flags every agent of the test runs with: all four kinds,
// short interleaved windows.
var netRun = []string{"--paths", "direct,haproxy,nginx,linkerd", "--duration", "3s", "--warmup", "1s"}

// netRate is the single agent's rate; the two sharing agents drive half each.
const netRate = 200

func TestTwoNamespaces(t *testing.T) {
	if os.Getenv(netEnv) == "" {
		t.Skipf("the two-namespace test runs with %s=1 (make test-net), as root", netEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("the two-namespace test needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the two-namespace test needs iproute2's ip: apt-get install iproute2")
	}
	for _, b := range []string{"haproxy", "nginx"} {
		if _, err := exec.LookPath(b); err != nil {
			if _, err := os.Stat("/usr/sbin/" + b); err != nil {
				t.Fatalf("%s is not installed (scripts/setup.sh installs it)", b)
			}
		}
	}
	n := newNets(t)
	bin := buildMeshbench(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")

	srv := n.serve(t, bin, token)
	t.Logf("serve: %s", srv.addr)

	single := n.run(t, bin, token, filepath.Join(dir, "single"), strconv.Itoa(netRate))
	checkRun(t, "one agent", single, netRate)
	packets := n.txPackets(t)
	var sent int64
	for _, p := range single.Paths {
		sent += p.Requests
	}
	if packets < sent {
		t.Errorf("the client's veth sent %d packets for %d requests: the load did not cross it", packets, sent)
	}

	refused(t, n, bin, token, dir)

	// Two agents, half the rate each, at the same time.
	var wg sync.WaitGroup
	agents := make([]*results.File, 2)
	outs := make([]string, 2)
	for i := range agents {
		outs[i] = filepath.Join(dir, fmt.Sprintf("agent%d", i+1))
		wg.Go(func() {
			agents[i] = n.run(t, bin, token, outs[i], strconv.Itoa(netRate), "--share", fmt.Sprintf("%d/2", i+1))
		})
	}
	wg.Wait()
	if agents[0] == nil || agents[1] == nil {
		t.FailNow()
	}
	for i, f := range agents {
		checkRun(t, fmt.Sprintf("agent %d/2", i+1), f, netRate/2)
	}
	merged := mergeAgents(t, bin, dir, outs)
	checkRun(t, "merged", merged, netRate)
	compareMerged(t, single, merged, agents)

	srv.stop(t)
	if pids := n.pids(t, n.server); pids != "" {
		t.Errorf("processes left in the server's namespace after serve ended: %s", pids)
	}
}

// nets is the pair of namespaces and their veth link.
type nets struct {
	server, client string
	vethC          string
}

// newNets makes two namespaces joined by a veth pair, loopback up in both;
// the test's cleanup removes them, which removes the link too.
func newNets(t *testing.T) *nets {
	id := strconv.Itoa(os.Getpid() % 100000)
	n := &nets{server: "mbsrv" + id, client: "mbcli" + id, vethC: "mbc" + id}
	vethS := "mbs" + id
	t.Cleanup(func() {
		for _, ns := range []string{n.server, n.client} {
			exec.Command("ip", "netns", "del", ns).Run()
		}
		exec.Command("ip", "link", "del", vethS).Run()
	})
	if out, err := exec.Command("ip", "netns", "add", n.server).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	for _, args := range [][]string{
		{"netns", "add", n.client},
		{"link", "add", vethS, "type", "veth", "peer", "name", n.vethC},
		{"link", "set", vethS, "netns", n.server},
		{"link", "set", n.vethC, "netns", n.client},
		{"-n", n.server, "addr", "add", serverIP + "/30", "dev", vethS},
		{"-n", n.client, "addr", "add", clientIP + "/30", "dev", n.vethC},
		{"-n", n.server, "link", "set", vethS, "up"},
		{"-n", n.client, "link", "set", n.vethC, "up"},
		{"-n", n.server, "link", "set", "lo", "up"},
		{"-n", n.client, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return n
}

// in is a command run in namespace ns, killed if the test binary dies.
func in(ctx context.Context, ns, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

func (n *nets) txPackets(t *testing.T) int64 {
	out, err := exec.Command("ip", "netns", "exec", n.client, "cat", "/sys/class/net/"+n.vethC+"/statistics/tx_packets").Output()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return v
}

func (n *nets) pids(t *testing.T, ns string) string {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// server is a running `meshbench serve`.
type server struct {
	cmd      *exec.Cmd
	addr     string
	log      *bytes.Buffer
	done     chan error
	stopOnce sync.Once
}

// serve starts meshbench serve in the server namespace on fixed path ports
// and returns once its control API listens.
func (n *nets) serve(t *testing.T, bin, token string) *server {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	cmd := in(ctx, n.server, bin, "serve", "--listen", serverIP+":"+apiPort, "--token-file", token,
		"--path-ports", "direct=7410,haproxy=7402,nginx=7403,linkerd=7404", "--idle-timeout", "5m", "--barrier-timeout", "1m")
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, log: &bytes.Buffer{}, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		pw.Close()
		s.done <- err
		close(s.done)
	}()
	t.Cleanup(func() { s.stop(t) })
	ready := make(chan string, 1)
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if a, ok := strings.CutPrefix(sc.Text(), "meshbench serve: control API on https://"); ok {
				ready <- strings.TrimSuffix(strings.Fields(a)[0], ",")
			}
		}
		close(ready)
	}()
	addr, ok := <-ready
	if !ok {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("serve did not come up: %s", s.log)
	}
	s.addr = addr
	return s
}

// stop interrupts serve, which stops all it started, and waits for it.
func (s *server) stop(t *testing.T) {
	s.stopOnce.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-s.done; err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	})
}

// run is one `meshbench run --remote` in the client namespace; it fails
// the test unless the run exits 0, and returns its result.
func (n *nets) run(t *testing.T, bin, token, out, rate string, extra ...string) *results.File {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"run", "--remote", "https://" + serverIP + ":" + apiPort, "--token-file", token,
		"--rate", rate, "--out", out, "--format", "json"}, netRun...)
	var stdout, stderr bytes.Buffer
	cmd := in(ctx, n.client, bin, append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("run %v: %v\n%s", extra, err, stderr.String())
		return nil
	}
	var f results.File
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil {
		t.Errorf("run %v: %v", extra, err)
		return nil
	}
	return &f
}

// refused: a token file with another token, or pinning another
// certificate, is refused with exit 2 and a line saying why.
func refused(t *testing.T, n *nets, bin, token, dir string) {
	creds, err := remote.ReadCredentials(token)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(token)
	fp := fmt.Sprintf("%x", creds.Fingerprint)
	for name, c := range map[string]struct{ from, to, want string }{
		"wrong token":       {creds.Token, strings.Repeat("e", 64), "refused the token (401)"},
		"wrong fingerprint": {fp, strings.Repeat("0", 64), "certificate has SHA-256"},
	} {
		bad := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(bad, bytes.ReplaceAll(text, []byte(c.from), []byte(c.to)), 0o600)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := in(ctx, n.client, bin, "run", "--remote", "https://"+serverIP+":"+apiPort, "--token-file", bad, "--paths", "direct", "--out", filepath.Join(dir, "refused"))
		out, err := cmd.CombinedOutput()
		cancel()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: exit %d (%v), output %q; want 2 and %q", name, code, err, out, c.want)
		}
	}
}

func mergeAgents(t *testing.T, bin, dir string, outs []string) *results.File {
	var files []string
	for _, o := range outs {
		m, _ := filepath.Glob(filepath.Join(o, "*.json"))
		files = append(files, m...)
	}
	out, err := exec.Command(bin, append([]string{"merge", "--out", filepath.Join(dir, "merged"), "--format", "json"}, files...)...).Output()
	if err != nil {
		t.Fatalf("merge %v: %v", files, err)
	}
	var f results.File
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// checkRun: every path measured, no errors, the rate asked for, both
// hosts' figures and the proxies' usage recorded.
func checkRun(t *testing.T, what string, f *results.File, rate float64) {
	t.Helper()
	if f == nil {
		t.Fatalf("%s: no result", what)
	}
	if f.ServerHost == nil || len(f.Paths) != 5 {
		t.Fatalf("%s: server host %v, %d rows (want direct, haproxy, nginx, linkerd, direct-aa)", what, f.ServerHost, len(f.Paths))
	}
	for _, p := range f.Paths {
		if p.Errors != 0 || p.Requests == 0 || math.Abs(p.TargetRate-rate) > 0.01*rate {
			t.Errorf("%s %s: %d requests, %d errors %v, target rate %g (want %g)", what, p.Name, p.Requests, p.Errors, p.ErrorsByClass, p.TargetRate, rate)
		}
		if p.HostStats == nil || p.ServerHostStats == nil {
			t.Errorf("%s %s: host stats %v, server host stats %v", what, p.Name, p.HostStats != nil, p.ServerHostStats != nil)
		}
		if p.Kind != "direct" && (p.Proxy == nil || p.Proxy.CPUSeconds <= 0) {
			t.Errorf("%s %s: proxy usage %+v", what, p.Name, p.Proxy)
		}
		t.Logf("%-9s %-9s %6d req %7.1f/s  p50 %6.3f  p90 %6.3f  p99 %7.3f ms  client cpu %s  server cpu %s", what, p.Name, p.Requests, p.AchievedRate,
			p.LatencyMs.P50, p.LatencyMs.P90, p.LatencyMs.P99, cpu(p.HostStats), cpu(p.ServerHostStats))
	}
}

func cpu(h *results.HostStats) string {
	if h == nil || h.CPU == nil {
		return "-"
	}
	return fmt.Sprintf("usr %.0f%% sys %.0f%% idle %.0f%% steal %.1f%%", h.CPU.UserPct, h.CPU.SystemPct, h.CPU.IdlePct, h.CPU.StealPct)
}

// compareMerged: the merged histograms hold exactly the agents' requests,
// the merged rates add up to the single agent's, and every path's p50 is
// within this host's noise of the single agent's. Noise is read from the
// runs themselves: the gap between direct and its A/A twin, which measure
// the same thing, plus a floor for a shared 2-core machine.
func compareMerged(t *testing.T, single, merged *results.File, agents []*results.File) {
	noise := 0.5
	for _, f := range []*results.File{single, merged} {
		noise = max(noise, 3*math.Abs(f.Paths[0].LatencyMs.P50-f.Paths[4].LatencyMs.P50))
	}
	for i, p := range merged.Paths {
		h, err := results.DecodeHistogram(p.Histogram)
		if err != nil {
			t.Fatal(err)
		}
		sum := agents[0].Paths[i].Requests + agents[1].Paths[i].Requests
		if h.TotalCount() != sum || p.Requests != sum {
			t.Errorf("merged %s: histogram holds %d, requests %d, the agents sent %d", p.Name, h.TotalCount(), p.Requests, sum)
		}
		s := single.Paths[i]
		if math.Abs(p.AchievedRate-s.AchievedRate) > 0.05*s.AchievedRate {
			t.Errorf("merged %s: %.1f req/s, one agent %.1f", p.Name, p.AchievedRate, s.AchievedRate)
		}
		if d := math.Abs(p.LatencyMs.P50 - s.LatencyMs.P50); d > max(noise, 0.5*s.LatencyMs.P50) {
			t.Errorf("merged %s: p50 %.3f ms, one agent %.3f ms: %.3f apart, noise %.3f", p.Name, p.LatencyMs.P50, s.LatencyMs.P50, d, noise)
		}
	}
}

// buildMeshbench builds meshbench and meshbench-sidecar into a temp dir.
func buildMeshbench(t *testing.T) string {
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../../cmd/meshbench", "../../cmd/meshbench-sidecar").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "meshbench")
}
