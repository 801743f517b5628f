// Package hoststats tells what the host under a benchmark is and what it was
// doing: who it is (Identify), how busy and how pressed it was during a
// window (StartSampler, Stop), how steady its scheduler and its disk are
// (RunProbes) and what that means for a mesh (Verdicts).
//
// Everything is read from a /proc and a /sys root that tests point at
// fixture trees, and every source is read by one function and parsed by
// another that takes the text, so parsing is tested on snapshots of real
// hosts. Samplers never fail a run: what could not be read is named in
// HostStats.Errors.
//
// gopsutil is not used here: its cpu package needs tklauser/go-sysconf, a
// module this build does not carry, and its other readers take no text to
// parse, so fixtures could only be tested through files and environment
// variables. The files it would read are short and plain.
package hoststats

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Roots are where /proc and /sys are read from; "" means /proc and /sys.
type Roots struct{ Proc, Sys string }

func (r Roots) proc(parts ...string) string {
	root := r.Proc
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

func (r Roots) sys(parts ...string) string {
	root := r.Sys
	if root == "" {
		root = "/sys"
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// file is a path outside /proc and /sys (/.dockerenv, /etc/os-release). A
// fixture tree keeps them beside its proc directory, so the root of the
// filesystem is taken to be the parent of the proc root.
func (r Roots) file(parts ...string) string {
	root := "/"
	if r.Proc != "" {
		root = filepath.Dir(filepath.Clean(r.Proc))
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

// live reports whether the roots are this machine's own, so that what
// cannot come from a file (CPUID, statfs) may be asked of the machine.
func (r Roots) live() bool {
	return (r.Proc == "" || filepath.Clean(r.Proc) == "/proc") && (r.Sys == "" || filepath.Clean(r.Sys) == "/sys")
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// readTrim reads a one-value file such as /sys/block/vda/queue/nr_requests.
func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func atoi64(s string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return v
}

func atou64(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return v
}

// delta is b-a for a counter, clamped at 0: a counter that went backwards
// (a wrapped 32-bit field, a hot-unplugged CPU, a restarted cgroup) says
// nothing about the window, and a negative share would be nonsense.
func delta(a, b uint64) uint64 {
	if b < a {
		return 0
	}
	return b - a
}

func pct(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return round2(100 * part / whole)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
