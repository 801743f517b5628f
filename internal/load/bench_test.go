package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/results"
)

// childBackendEnv makes the test binary a backend process (see TestMain),
// so that the benchmark's getrusage counts the load generator alone.
const childBackendEnv = "MESHBENCH_LOAD_TEST_BACKEND"

func TestMain(m *testing.M) {
	if os.Getenv(childBackendEnv) != "" {
		s, err := backend.Start(context.Background(), "127.0.0.1:0", backend.Config{Payload: 1024})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(s.Addr())
		io.Copy(io.Discard, os.Stdin) // serve until the parent closes our stdin
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childBackend starts the backend in a child process and returns its URL.
func childBackend(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBackendEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("child backend: %v", err)
	}
	return "http://" + strings.TrimSpace(addr)
}

func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkLoad is the CPU cost of the load generator: by default 2000
// req/s for 10 s (after 1 s of warm-up) against the backend in another
// process, in CPU seconds per 10k requests (user+system, from getrusage,
// warm-up requests included), beside the p50/p99 it measured and its late
// sends. Run with -benchtime=1x; each iteration is one run.
//
//	go test -run '^$' -bench Load -benchtime 1x ./internal/load
//
// MESHBENCH_BENCH_URL measures against an existing endpoint instead (for
// comparisons with peers.sh against the same server), MESHBENCH_BENCH_RATE
// sets the rate, MESHBENCH_BENCH_SECONDS the window and MESHBENCH_BENCH_LOOPS
// the event loops (Config.Loops; default automatic).
func BenchmarkLoad(b *testing.B) {
	url := os.Getenv("MESHBENCH_BENCH_URL")
	if url == "" {
		url = childBackend(b)
	}
	d, rate := 10*time.Second, 2000.0
	if s := os.Getenv("MESHBENCH_BENCH_SECONDS"); s != "" {
		fmt.Sscan(s, &d)
		d *= time.Second
	}
	if s := os.Getenv("MESHBENCH_BENCH_RATE"); s != "" {
		fmt.Sscan(s, &rate)
	}
	loops := 0
	if s := os.Getenv("MESHBENCH_BENCH_LOOPS"); s != "" {
		fmt.Sscan(s, &loops)
	}
	for i := 0; i < b.N; i++ {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		u0, s0 := cpuTime()
		res, err := Run(context.Background(), Config{
			Targets: []string{url}, Rate: Rate{RPS: rate},
			Warmup: time.Second, Duration: d, Loops: loops,
		})
		if err != nil {
			b.Fatal(err)
		}
		u1, s1 := cpuTime()
		runtime.ReadMemStats(&m1)
		cpu := u1 - u0 + s1 - s0
		sent := res.Sent + int64(rate) // the warm-up's second at the same rate
		p := results.Summarize(res.Response)
		b.ReportMetric(cpu.Seconds()/float64(sent)*1e4, "cpu-s/10k")
		b.ReportMetric((s1-s0).Seconds()/float64(sent)*1e4, "sys-s/10k")
		b.ReportMetric(p.P50, "p50-ms")
		b.ReportMetric(p.P99, "p99-ms")
		b.ReportMetric(res.AchievedRate, "req/s")
		b.ReportMetric(100*float64(res.Late.Count)/float64(max(res.Sent, 1)), "late-%")
		b.ReportMetric(100*float64(res.Late.Loop)/float64(max(res.Sent, 1)), "loop-late-%")
		b.ReportMetric(float64(res.Pending), "pending")
		// the whole process's, setup and result included: a few thousand
		// per run, not per request
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(sent), "allocs/req")
		b.ReportMetric(float64(res.Late.Dispatch.ValueAtQuantile(50))/1e3, "dispatch-p50-µs")
		b.ReportMetric(float64(res.Late.Dispatch.ValueAtQuantile(99))/1e3, "dispatch-p99-µs")
		if res.Errors > 0 {
			b.Errorf("%d errors: %v", res.Errors, res.ErrorsByClass)
		}
	}
}
