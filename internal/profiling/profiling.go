// Package profiling records the Go runtime's own views of a process into a
// directory, for the --profile option of run and sidecar: a CPU profile and
// an execution trace while it runs, and heap, block and mutex profiles when
// it stops. They answer where a process spends its CPU and where its
// goroutines wait (go tool pprof, go tool trace).
package profiling

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"

	"github.com/meshbench/meshbench/internal/errext"
)

// Sampling rates of the block and mutex profiles while profiling is on:
// one blocking event sampled per 10 µs spent blocked, one mutex contention
// in 10. Both cost little at a proxy's or a load generator's rates and show
// where goroutines wait other than on the network.
const (
	blockProfileRate     = 10_000 // ns
	mutexProfileFraction = 10
)

// Profiler is one recording in progress. Files are named PREFIX-cpu.pprof,
// PREFIX-trace.out, PREFIX-heap.pprof, PREFIX-block.pprof and
// PREFIX-mutex.pprof, so that several processes (a run and the sidecars it
// starts) can share a directory.
type Profiler struct {
	dir, prefix string
	cpu, trc    *os.File
}

// Start begins recording into dir, which it creates. A directory that
// cannot be made is bad input (exit 2); only one Profiler may run in a
// process at a time, as the runtime has one CPU profile and one trace.
func Start(dir, prefix string) (*Profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errext.BadInputf("--profile: %v", err)
	}
	p := &Profiler{dir: dir, prefix: prefix}
	var err error
	if p.cpu, err = os.Create(p.Path("cpu.pprof")); err != nil {
		return nil, errext.BadInputf("--profile: %v", err)
	}
	if err := pprof.StartCPUProfile(p.cpu); err != nil {
		p.cpu.Close()
		return nil, fmt.Errorf("--profile: CPU profile: %w", err)
	}
	if p.trc, err = os.Create(p.Path("trace.out")); err != nil {
		pprof.StopCPUProfile()
		p.cpu.Close()
		return nil, fmt.Errorf("--profile: %w", err)
	}
	if err := trace.Start(p.trc); err != nil {
		pprof.StopCPUProfile()
		p.cpu.Close()
		p.trc.Close()
		return nil, fmt.Errorf("--profile: trace: %w", err)
	}
	runtime.SetBlockProfileRate(blockProfileRate)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	return p, nil
}

// Path is where the file of one kind ("cpu.pprof", "trace.out", ...) goes.
func (p *Profiler) Path(kind string) string {
	return filepath.Join(p.dir, p.prefix+"-"+kind)
}

// Stop ends the recordings and writes the heap, block and mutex profiles.
func (p *Profiler) Stop() error {
	pprof.StopCPUProfile()
	trace.Stop()
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(0)
	errs := []error{p.cpu.Close(), p.trc.Close()}
	// A heap profile reflects the last completed GC; one more makes it
	// describe the heap as the process ends.
	runtime.GC()
	for _, name := range []string{"heap", "block", "mutex"} {
		errs = append(errs, writeProfile(name, p.Path(name+".pprof")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	return nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
