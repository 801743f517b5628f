package sidecarcmd

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

// Sampling rates of the block and mutex profiles while --profile is on:
// one blocking event sampled per 10 µs spent blocked, one mutex contention
// in 10. Both cost little at a sidecar's rates and show where requests wait
// other than on the network.
const (
	blockProfileRate     = 10_000 // ns
	mutexProfileFraction = 10
)

// profiler writes the runtime's own views of a process to files in a
// directory: a CPU profile and an execution trace recorded while it runs,
// and heap, block and mutex profiles taken when it stops. Files are named
// after the process (prefix, e.g. sidecar-outbound-1234), so that the
// several sidecars of one path can share a directory.
type profiler struct {
	dir, prefix string
	cpu, trc    *os.File
}

// startProfile starts recording, or says why it cannot.
func startProfile(dir, prefix string) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errext.BadInputf("--profile: %v", err)
	}
	p := &profiler{dir: dir, prefix: prefix}
	var err error
	if p.cpu, err = os.Create(p.path("cpu.pprof")); err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	if err := pprof.StartCPUProfile(p.cpu); err != nil {
		p.cpu.Close()
		return nil, fmt.Errorf("--profile: CPU profile: %w", err)
	}
	if p.trc, err = os.Create(p.path("trace.out")); err != nil {
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

func (p *profiler) path(kind string) string {
	return filepath.Join(p.dir, p.prefix+"-"+kind)
}

// stop ends the recordings and writes the heap, block and mutex profiles.
func (p *profiler) stop() error {
	pprof.StopCPUProfile()
	trace.Stop()
	errs := []error{p.cpu.Close(), p.trc.Close()}
	// A heap profile reflects the last completed GC; one more makes it
	// describe the heap as the process ends.
	runtime.GC()
	for _, name := range []string{"heap", "block", "mutex"} {
		errs = append(errs, writeProfile(name, p.path(name+".pprof")))
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
