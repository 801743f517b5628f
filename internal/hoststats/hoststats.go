// Package hoststats tells what the host under a benchmark is and what it was
// doing: who it is (Identify), how busy and how pressed it was during a
// window (StartSampler, Stop), how steady its scheduler and its disk are
// (RunProbes) and what that means for a mesh (Verdicts).
//
// Everything is read from a /proc and a /sys root that tests point at
// fixture trees: snapshots of real hosts under testdata/. Samplers never fail
// a run: what could not be read is named in HostStats.Errors.
//
// The host's counters (CPU times, disk I/O, memory, CPU model) come
// through github.com/shirou/gopsutil/v4, with the roots passed in the
// context (Roots.ctx). This package keeps its own readers only where
// gopsutil is silent or wrong for meshbench, and each says why where it
// stands: whether /proc/stat has a steal column at all (cpu.go), pressure
// stall information (psi.go), cgroup CPU throttling (cgroup.go), the
// virtualization layers (virt.go), the TCP counters (net.go), the
// disks' device numbers and sysfs facts (disks.go, mounts.go), the host's
// name, kernel and OS as the roots give them (identify.go), and the CPU time
// of one thread (probes.go).
package hoststats

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/common"
	"golang.org/x/sys/unix"
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

// ctx carries the roots to gopsutil, which takes its /proc, /sys, /etc,
// /run and /dev from a map in the context before the environment. A
// context value rather than HOST_PROC and friends in the environment, so
// that tests on different fixture trees run in parallel. Every key is set,
// so a HOST_PROC in meshbench's own environment cannot send gopsutil to
// another tree than this package's own readers. The context is detached
// from parent's cancellation: the last snapshot of a window is taken after
// the run's context may have ended.
func (r Roots) ctx(parent context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(parent), common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: r.proc(),
		common.HostSysEnvKey:  r.sys(),
		common.HostEtcEnvKey:  r.file("etc"),
		common.HostRunEnvKey:  r.file("run"),
		common.HostDevEnvKey:  r.file("dev"),
		common.HostVarEnvKey:  r.file("var"),
		common.HostRootEnvKey: r.file(),
	})
}

// live reports whether the roots are a running kernel's procfs and sysfs
// rather than fixture trees, so that what cannot come from a file (CPUID,
// statfs) may be asked of the machine. Besides /proc and /sys themselves,
// that is the node's /proc and /sys mounted into a container elsewhere
// (HOST_PROC, HOST_SYS): the container runs on that node's CPU and kernel.
func (r Roots) live() bool {
	return isFS(r.Proc, "/proc", unix.PROC_SUPER_MAGIC) && isFS(r.Sys, "/sys", unix.SYSFS_MAGIC)
}

// isFS reports whether root is def ("" means def) or a mount of the
// filesystem whose magic number is magic.
func isFS(root, def string, magic int64) bool {
	if root == "" || filepath.Clean(root) == def {
		return true
	}
	var st unix.Statfs_t
	return unix.Statfs(root, &st) == nil && int64(st.Type) == magic
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
