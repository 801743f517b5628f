package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procRoot is where /proc is read from; tests point it at fixtures only
// through the parse functions, so it stays a variable for diagnostics.
var procRoot = "/proc"

// userHZ is the unit of the times in /proc/PID/stat. The kernel reports
// them in USER_HZ, which is 100 on every Linux architecture whatever the
// kernel's own tick rate, so there is no need to ask sysconf.
const userHZ = 100

// Usage is the child's own cumulative user+system CPU time and its peak
// resident set (VmHWM). After the child exited it is the final figure the
// kernel reported when it was reaped.
func (p *Process) Usage() (cpuSeconds float64, maxRSSBytes int64, err error) {
	if cpu, rss, ok := p.finalUsage(); ok {
		return cpu, rss, nil
	}
	cpu, rss, err := pidUsage(procRoot, p.pid)
	if err == nil {
		return cpu, rss, nil
	}
	// The child may be exiting right now: /proc no longer has its memory
	// but os/exec has not reaped it yet. Give the reaper a moment.
	select {
	case <-p.done:
		cpu, rss, _ := p.finalUsage()
		return cpu, rss, nil
	case <-time.After(100 * time.Millisecond):
		return 0, 0, fmt.Errorf("usage of %s (pid %d): %w", p.name, p.pid, err)
	}
}

// GroupUse is what a process group used: CPU time and peak RSS summed over its
// live processes, the largest single peak, and how many there were.
type GroupUse struct {
	CPUSeconds float64
	// RSSBytes is the sum of each process's peak, which overstates the
	// group's peak by the pages they share and by peaks that did not
	// coincide.
	RSSBytes int64
	// MaxProcessRSSBytes is the largest peak of any one process.
	MaxProcessRSSBytes int64
	Processes          int
}

// GroupUsage sums Usage over the child and every other live process of its
// group (nginx's workers, say), and counts them.
func (p *Process) GroupUsage() (GroupUse, error) {
	cpu, rss, err := p.Usage()
	if err != nil {
		return GroupUse{}, err
	}
	g := GroupUse{CPUSeconds: cpu, RSSBytes: rss, MaxProcessRSSBytes: rss, Processes: 1}
	for _, pid := range groupPids(procRoot, p.pid) {
		if pid == p.pid {
			continue
		}
		cpu, rss, err := pidUsage(procRoot, pid)
		if err != nil {
			continue // exited, or a zombie, since the group was listed
		}
		g.CPUSeconds += cpu
		g.RSSBytes += rss
		g.MaxProcessRSSBytes = max(g.MaxProcessRSSBytes, rss)
		g.Processes++
	}
	return g, nil
}

// Pids lists the live processes of the child's group, the child first if it
// is still running. Zombies are left out.
func (p *Process) Pids() []int {
	var out []int
	for _, pid := range groupPids(procRoot, p.pid) {
		if st, ok := readState(procRoot, pid); ok && st != 'Z' {
			if pid == p.pid {
				out = append([]int{pid}, out...)
			} else {
				out = append(out, pid)
			}
		}
	}
	return out
}

func (p *Process) finalUsage() (float64, int64, bool) {
	select {
	case <-p.done:
	default:
		return 0, 0, false
	}
	st := p.cmd.ProcessState
	if st == nil {
		return 0, 0, true
	}
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok {
		return st.UserTime().Seconds() + st.SystemTime().Seconds(), 0, true
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return cpu, ru.Maxrss << 10, true // Maxrss is in KiB on Linux
}

func pidUsage(root string, pid int) (float64, int64, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, 0, err
	}
	st, err := parseStat(string(b))
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Open(filepath.Join(dir, "status"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	hwm, err := parseHWM(bufio.NewScanner(f))
	if err != nil {
		return 0, 0, err
	}
	return float64(st.utime+st.stime) / userHZ, hwm, nil
}

// stat is what meshbench reads of /proc/PID/stat.
type stat struct {
	state               byte
	ppid, pgrp, session int
	utime, stime        uint64 // in USER_HZ ticks
}

// parseStat reads one /proc/PID/stat line. The command name may hold
// spaces and parentheses, so fields are counted from its last ')'.
func parseStat(s string) (stat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("bad stat line %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 of proc(5) (state); utime and stime are fields 14 and 15.
	if len(f) < 13 || len(f[0]) != 1 {
		return stat{}, fmt.Errorf("bad stat line %q", s)
	}
	var st stat
	var errs [5]error
	st.state = f[0][0]
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.pgrp, errs[1] = strconv.Atoi(f[2])
	st.session, errs[2] = strconv.Atoi(f[3])
	st.utime, errs[3] = strconv.ParseUint(f[11], 10, 64)
	st.stime, errs[4] = strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return stat{}, fmt.Errorf("bad stat line %q: %w", s, err)
	}
	return st, nil
}

// parseHWM finds VmHWM (peak RSS) in /proc/PID/status, in bytes. A zombie
// or kernel thread has none, which is an error: it has no memory to report.
func parseHWM(sc *bufio.Scanner) (int64, error) {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad VmHWM line %q", sc.Text())
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in status (zombie or kernel thread)")
}

func readStat(root string, pid int) (stat, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, err
	}
	return parseStat(string(b))
}

func readState(root string, pid int) (byte, bool) {
	st, err := readStat(root, pid)
	return st.state, err == nil
}

// groupPids lists every process (zombies included) whose process group is
// pgid, by scanning root.
func groupPids(root string, pgid int) []int {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(root, pid); err == nil && st.pgrp == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// ListensOn reports whether a process of the child's group holds a
// listening TCP socket on port. A proxy told to listen on a port picked in
// advance may find it taken by another program that answers HTTP too; this
// tells the two apart.
func (p *Process) ListensOn(port int) (bool, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(procRoot, f))
		if err != nil && f == "net/tcp" {
			return false, err
		}
		for _, ino := range listeningInodes(string(b), port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return false, nil
	}
	for _, pid := range groupPids(procRoot, p.pid) {
		fds := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(fds)
		if err != nil {
			continue
		}
		for _, e := range ents {
			l, err := os.Readlink(filepath.Join(fds, e.Name()))
			if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(ino, "]")] {
				return true, nil
			}
		}
	}
	return false, nil
}

// listeningInodes parses /proc/net/tcp{,6} and returns the inodes of the
// sockets listening on port.
func listeningInodes(table string, port int) []string {
	var out []string
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
			continue
		}
		out = append(out, f[9])
	}
	return out
}
