package profiling

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
)

// TestStartStop records a little work and checks every file is what its
// tool reads: gzipped profiles of the right kind and a Go execution trace.
func TestStartStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prof")
	p, err := Start(dir, "unit")
	if err != nil {
		t.Fatal(err)
	}
	sink := 0
	for i := range 2_000_000 {
		sink += i % 7
	}
	_ = sink
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, "unit")
}

// TestStartBadDir: a directory that cannot be made is bad input, and no
// recording is left running (a second Start works).
func TestStartBadDir(t *testing.T) {
	_, err := Start("/dev/null/prof", "unit")
	if err == nil || !errext.IsBadInput(err) {
		t.Fatalf("err = %v, want bad input", err)
	}
	p, err := Start(t.TempDir(), "unit")
	if err != nil {
		t.Fatalf("after a failed start: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

// checkFiles fails t unless dir holds the five files of prefix, each with
// the content its tool expects.
func checkFiles(t *testing.T, dir, prefix string) {
	t.Helper()
	base := filepath.Join(dir, prefix+"-")
	for kind, want := range map[string]string{"cpu.pprof": "nanoseconds", "heap.pprof": "inuse_space", "block.pprof": "delay", "mutex.pprof": "contentions"} {
		f, err := os.Open(base + kind)
		if err != nil {
			t.Error(err)
			continue
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			f.Close()
			continue
		}
		b, _ := io.ReadAll(zr)
		f.Close()
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s: no %q in the profile (%d bytes)", kind, want, len(b))
		}
	}
	if b, err := os.ReadFile(base + "trace.out"); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) || len(b) < 1000 {
		t.Errorf("trace: %d bytes, %v", len(b), err)
	}
}
