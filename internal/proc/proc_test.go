package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a helper process instead of
// running tests (see TestMain).
const helperEnv = "MESHBENCH_PROC_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "parent":
		// Starts a grandchild through proc, says its pid, and waits to be
		// killed by the test.
		p, err := NewGroup().Start(context.Background(), Spec{Name: "sleep", Path: "sleep", Args: []string{"60"}})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("child %d\n", p.Pid())
		select {}
	case "orphans", "orphans-exit", "orphans-replace":
		os.Exit(orphansHelper(os.Getenv(helperEnv)))
	case "stop-reaper":
		os.Exit(stopReaperHelper())
	case "listen":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
		select {}
	case "burn":
		// Touches 64 MiB and spins the CPU for 300 ms, then idles.
		b := make([]byte, 64<<20)
		for i := range b {
			b[i] = byte(i)
		}
		end := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(end) {
		}
		fmt.Println("ready", b[len(b)-1])
		select {}
	}
}

// groupT is a group that the test's cleanup closes.
func groupT(t *testing.T) *Group {
	g := NewGroup()
	t.Cleanup(func() {
		if err := g.Close(time.Second); err != nil {
			t.Error(err)
		}
	})
	return g
}

// startT starts spec in a group of the test's own.
func startT(t *testing.T, spec Spec) *Process {
	t.Helper()
	return startIn(t, groupT(t), spec)
}

func startIn(t *testing.T, g *Group, spec Spec) *Process {
	t.Helper()
	p, err := g.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sh(script string) Spec { return Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}} }

// waitOutput waits until the child's output holds a line starting with
// prefix and returns the rest of that line. The deadline only keeps a
// broken test from hanging: a race-instrumented helper on a loaded host
// takes seconds to print.
func waitOutput(t *testing.T, p *Process, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				return rest
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q line in output %q", prefix, p.Output())
	return ""
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// gone waits up to d for pid to disappear (reaping it if it is ours).
func gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if reap(pid) {
			return syscall.Kill(pid, 0) == syscall.ESRCH || isZombie(pid)
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	st, ok := readState("/proc", pid)
	return ok && st == 'Z'
}

// TestStopKillsGroup: a shell and its background grandchild both ignore
// SIGTERM; Stop escalates to SIGKILL after the grace, ends both, and the
// grandchild's pid no longer exists (meshbench, a subreaper, reaped it).
func TestStopKillsGroup(t *testing.T) {
	t.Parallel()
	p := startT(t, sh(`trap "" TERM; sleep 60 & echo "grandchild $!"; echo "to stderr" >&2; wait`))
	gc := atoi(t, waitOutput(t, p, "grandchild "))
	if got := p.Pids(); len(got) != 2 || got[0] != p.Pid() || got[1] != gc {
		t.Errorf("Pids() = %v, want [%d %d]", got, p.Pid(), gc)
	}
	start := time.Now()
	if err := p.Stop(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 2*time.Second {
		t.Errorf("Stop took %v, want the 200ms grace and then SIGKILL", el)
	}
	for _, pid := range []int{p.Pid(), gc} {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("pid %d after Stop: kill(0) = %v, want ESRCH", pid, err)
		}
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if !strings.Contains(p.Output(), "to stderr") {
		t.Errorf("stderr not captured: %q", p.Output())
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) {
		t.Errorf("Err() = %v, want the kill signal", p.Err())
	}
}

// TestStopTwiceConcurrently: concurrent and repeated Stops all wait for
// the one that does the work and agree on its result; a child that ends on
// SIGTERM is not an error.
func TestStopTwiceConcurrently(t *testing.T) {
	t.Parallel()
	g := groupT(t)
	p := startIn(t, g, Spec{Name: "sleep", Path: "sleep", Args: []string{"60"}})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop(5 * time.Second)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Stop %d: %v", i, err)
		}
	}
	if err := p.Stop(0); err != nil {
		t.Errorf("Stop after Stop: %v", err)
	}
	if !strings.Contains(fmt.Sprint(p.Err()), "terminated") {
		t.Errorf("Err() = %v, want SIGTERM to have ended it", p.Err())
	}
	if live := g.Live(); len(live) != 0 {
		t.Errorf("stopped process still in its group: %v", live)
	}
}

// TestExitedChild: a child that exits on its own closes Done, reports its
// status, keeps its output readable, and stopping it afterwards is fine.
func TestExitedChild(t *testing.T) {
	t.Parallel()
	p := startT(t, sh(`echo bye; exit 3`))
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if fmt.Sprint(p.Err()) != "exit status 3" {
		t.Errorf("Err() = %v", p.Err())
	}
	if p.Output() != "bye\n" {
		t.Errorf("Output() = %q", p.Output())
	}
	if err := p.Stop(time.Second); err != nil {
		t.Error(err)
	}
}

func TestStartMissing(t *testing.T) {
	t.Parallel()
	g := groupT(t)
	_, err := g.Start(context.Background(), Spec{Name: "haproxy", Path: "/nonexistent/haproxy"})
	if err == nil || !strings.Contains(err.Error(), "haproxy") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error naming haproxy and saying it does not exist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Start(ctx, Spec{Path: "sleep", Args: []string{"60"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

// TestStdio: stdin is /dev/null and the environment is added to.
func TestStdio(t *testing.T) {
	t.Parallel()
	p := startT(t, Spec{Path: "/bin/sh", Args: []string{"-c", `cat; echo "v=$MB_TEST_VAR"; pwd`}, Env: []string{"MB_TEST_VAR=x1"}, Dir: "/"})
	<-p.Done()
	if p.Output() != "v=x1\n/\n" {
		t.Errorf("Output() = %q", p.Output())
	}
}

// TestOutputBounded: a child that writes 1 MiB leaves only its last 64 KiB.
func TestOutputBounded(t *testing.T) {
	t.Parallel()
	p := startT(t, sh(`head -c 1048576 /dev/zero | tr '\0' x; echo; echo last`))
	<-p.Done()
	out := p.Output()
	if len(out) != outputLimit || !strings.HasSuffix(out, "x\nlast\n") {
		t.Errorf("output is %d bytes ending %q, want %d ending in the last line", len(out), out[max(0, len(out)-10):], outputLimit)
	}
}

// TestUsage: a helper that touches 64 MiB and spins for 300 ms shows that
// much CPU and peak RSS, alive and after it was stopped.
func TestUsage(t *testing.T) {
	t.Parallel()
	p := startT(t, Spec{Name: "burn", Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{helperEnv + "=burn"}})
	waitOutput(t, p, "ready")
	cpu, rss, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alive: cpu %.2fs, peak rss %d MiB", cpu, rss>>20)
	if cpu < 0.2 || cpu > 30 || rss < 64<<20 || rss > 1<<30 {
		t.Errorf("alive: cpu %.2fs, rss %d: want ≥ 0.2 s and ≥ 64 MiB", cpu, rss)
	}
	g, err := p.GroupUsage()
	if err != nil || g.Processes != 1 || g.CPUSeconds < cpu || g.RSSBytes != rss || g.MaxProcessRSSBytes != rss {
		t.Errorf("GroupUsage() = %+v, %v; want one process as in Usage (rss %d)", g, err, rss)
	}
	p.Stop(time.Second)
	cpu2, rss2, err := p.Usage()
	t.Logf("stopped: cpu %.2fs, peak rss %d MiB", cpu2, rss2>>20)
	if err != nil || cpu2 < cpu || rss2 < 64<<20 {
		t.Errorf("after Stop: cpu %.2fs, rss %d, %v", cpu2, rss2, err)
	}
}

// TestGroupUsage counts the shell and its two background children.
func TestGroupUsage(t *testing.T) {
	t.Parallel()
	p := startT(t, sh(`sleep 60 & sleep 60 & echo started; wait`))
	waitOutput(t, p, "started")
	// The shell prints before the second fork may have exec'd; wait for it.
	deadline := time.Now().Add(2 * time.Second)
	for len(p.Pids()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	g, err := p.GroupUsage()
	if err != nil || g.Processes != 3 || g.MaxProcessRSSBytes <= 0 || g.RSSBytes <= g.MaxProcessRSSBytes || g.RSSBytes > 3*g.MaxProcessRSSBytes || g.CPUSeconds < 0 {
		t.Errorf("GroupUsage() = %+v, %v; want 3 processes, the sum of their peaks above the largest and at most 3 times it", g, err)
	}
}

// TestStopAll ends every live child of its group, including the orphan
// left by a shell that already exited, and nothing of another group.
func TestStopAll(t *testing.T) {
	t.Parallel()
	g, other := groupT(t), groupT(t)
	a := startIn(t, g, Spec{Path: "sleep", Args: []string{"60"}})
	b := startIn(t, g, sh(`sleep 60 & echo "orphan $!"`))
	c := startIn(t, other, Spec{Path: "sleep", Args: []string{"60"}})
	orphan := atoi(t, waitOutput(t, b, "orphan "))
	<-b.Done()
	if got := g.Live(); len(got) != 2 {
		t.Errorf("Live() = %v before StopAll, want a and b", got)
	}
	if err := g.StopAll(time.Second); err != nil {
		t.Fatal(err)
	}
	if len(g.Live()) != 0 {
		t.Errorf("Live() = %v after StopAll", g.Live())
	}
	for _, pid := range []int{a.Pid(), b.Pid(), orphan} {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("pid %d after StopAll: kill(0) = %v, want ESRCH", pid, err)
		}
	}
	select {
	case <-c.Done():
		t.Errorf("another group's child died: %v", c.Err())
	default:
	}
	if live := other.Live(); len(live) != 1 || live[0] != c {
		t.Errorf("other group: Live() = %v, want its one child", live)
	}
	// StopAll leaves g usable; Close does not.
	startIn(t, g, Spec{Path: "sleep", Args: []string{"60"}})
	if err := g.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Start(context.Background(), Spec{Path: "sleep", Args: []string{"60"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: got %v, want ErrClosed", err)
	}
	if len(g.Live()) != 0 || len(other.Live()) != 1 {
		t.Errorf("after Close: Live() = %v, other %v", g.Live(), other.Live())
	}
}

// TestRun: a short command's output, its failure, and a context that ends
// before the command does.
func TestRun(t *testing.T) {
	t.Parallel()
	g := groupT(t)
	out, err := g.Run(context.Background(), sh(`echo "v1.2"`))
	if err != nil || out != "v1.2\n" {
		t.Errorf("Run = %q, %v", out, err)
	}
	if _, err := g.Run(context.Background(), sh(`exit 3`)); fmt.Sprint(err) != "exit status 3" {
		t.Errorf("failing command: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := make(chan error, 1)
	go func() {
		_, err := g.Run(ctx, sh(`echo started; sleep 60`))
		p <- err
	}()
	for len(g.Live()) == 0 {
		time.Sleep(time.Millisecond)
	}
	waitOutput(t, g.Live()[0], "started")
	cancel()
	if err := <-p; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if len(g.Live()) != 0 {
		t.Errorf("Run left %v", g.Live())
	}
}

// TestParentKilled: a helper starts a child through proc and is killed
// with SIGKILL, so no Go code of its own runs; the kernel's parent-death
// signal must end the child within a second.
func TestParentKilled(t *testing.T) {
	t.Parallel()
	h := startT(t, Spec{Name: "helper", Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{helperEnv + "=parent"}})
	child := atoi(t, waitOutput(t, h, "child "))
	if err := syscall.Kill(h.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !gone(child, time.Second) {
		t.Errorf("child %d of a SIGKILLed parent still runs after 1s", child)
		syscall.Kill(child, syscall.SIGKILL)
	}
}

// TestChildOutlivesCallerThread: Start called from a goroutine whose OS
// thread then exits (locked and never unlocked) must not take the child
// with it, as a parent-death signal tied to that thread would.
func TestChildOutlivesCallerThread(t *testing.T) {
	t.Parallel()
	g := groupT(t)
	got := make(chan *Process, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		p, err := g.Start(context.Background(), Spec{Path: "sleep", Args: []string{"60"}})
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	p := <-got
	if p == nil {
		return
	}
	defer p.Stop(time.Second)
	select {
	case <-p.Done():
		t.Fatalf("child died with its caller's thread: %v", p.Err())
	case <-time.After(300 * time.Millisecond):
	}
}

func TestWaitHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no upstream", http.StatusBadGateway) // any answer counts
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := WaitHTTP(ctx, srv.URL+"/ready", time.Second, nil); err != nil {
		t.Errorf("answering server: %v", err)
	}
	dead := closedAddr(t)
	err := WaitHTTP(ctx, "http://"+dead+"/", 200*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "within 200ms") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("nothing listening: got %v, want a timeout naming the last error", err)
	}
	p := startT(t, sh(`sleep 0.1; exit 2`))
	start := time.Now()
	err = WaitHTTP(ctx, "http://"+dead+"/", 10*time.Second, p)
	if err == nil || !strings.Contains(err.Error(), "exited (exit status 2)") || time.Since(start) > 2*time.Second {
		t.Errorf("exiting process: got %v after %v, want an early error", err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := WaitHTTP(cctx, "http://"+dead+"/", time.Second, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

func TestWaitTCP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := WaitTCP(context.Background(), ln.Addr().String(), time.Second, nil); err != nil {
		t.Error(err)
	}
	if err := WaitTCP(context.Background(), closedAddr(t), 100*time.Millisecond, nil); err == nil {
		t.Error("closed port: no error")
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (we ird) (name) S 4200 4242 4242 0 -1 4194560 120 0 0 0 250 37 0 0 20 0 1 0 100 1000 200\n"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st != (stat{state: 'S', ppid: 4200, pgrp: 4242, session: 4242, utime: 250, stime: 37}) {
		t.Errorf("parseStat = %+v", st)
	}
	for _, bad := range []string{"", "1 (x) S 1", "1 x S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
	hwm, err := parseHWM(bufio.NewScanner(strings.NewReader("Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n")))
	if err != nil || hwm != 5120<<10 {
		t.Errorf("parseHWM = %d, %v", hwm, err)
	}
	if _, err := parseHWM(bufio.NewScanner(strings.NewReader("Name:\tz\nState:\tZ (zombie)\n"))); err == nil {
		t.Error("zombie status: no error")
	}
}

// TestListensOn tells the port a child listens on from one that another
// process (this test) holds.
func TestListensOn(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := startT(t, Spec{Name: "listener", Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{helperEnv + "=listen"}})
	port := atoi(t, waitOutput(t, p, "port "))
	if ok, err := p.ListensOn(port); !ok || err != nil {
		t.Errorf("ListensOn(its own port %d) = %v, %v", port, ok, err)
	}
	if ok, err := p.ListensOn(ln.Addr().(*net.TCPAddr).Port); ok || err != nil {
		t.Errorf("ListensOn(a port it does not hold) = %v, %v", ok, err)
	}
	table := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n" +
		"   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 100 0 0 10 0\n" +
		"   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0\n"
	if got := listeningInodes(table, 8080); len(got) != 1 || got[0] != "4242" {
		t.Errorf("listeningInodes(8080) = %v, want [4242] (the LISTEN row only)", got)
	}
}
