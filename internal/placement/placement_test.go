package placement

import (
	"os"
	"runtime"
	"testing"
)

func TestChoose(t *testing.T) {
	for _, c := range []struct {
		mode         string
		cpus         []int
		want, lg, px string
	}{
		{Shared, []int{0, 1}, Shared, "0-1", "0-1"},
		{Split, []int{0, 1}, Split, "0", "1"},
		{Auto, []int{0, 1}, Shared, "0-1", "0-1"},
		{Auto, []int{0, 1, 2, 3, 4, 5}, Split, "0-2", "3-5"},
		{Split, []int{0, 2, 4}, Split, "0", "2,4"},
	} {
		p, err := Choose(c.mode, c.cpus)
		if err != nil || p.Mode != c.want || Format(p.Loadgen) != c.lg || Format(p.Proxies) != c.px {
			t.Errorf("%s on %v: %+v %v, want %s %s/%s", c.mode, c.cpus, p, err, c.want, c.lg, c.px)
		}
	}
	if _, err := Choose(Split, []int{0}); err == nil {
		t.Error("split on one CPU was accepted")
	}
	if _, err := Choose("spread", []int{0, 1}); err == nil {
		t.Error("an unknown mode was accepted")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		cpus []int
		want string
	}{{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1, 2}, "0-2"}, {[]int{0, 2, 3, 5}, "0,2-3,5"}} {
		if got := Format(c.cpus); got != c.want {
			t.Errorf("Format(%v) = %q, want %q", c.cpus, got, c.want)
		}
	}
}

// Apply pins this process's threads, hands the proxies' set to the
// children's hook, and restores both.
func TestApplyAndRestore(t *testing.T) {
	cpus, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skipf("this process may use %d CPU; a split needs 2", len(cpus))
	}
	p, err := Choose(Split, cpus)
	if err != nil {
		t.Fatal(err)
	}
	var children [][]int
	restore, err := Apply(p, func(c []int) error { children = append(children, c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	got, err := ProcessCPUs("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	mine, _ := Allowed()
	runtime.UnlockOSThread()
	restore()
	after, _ := ProcessCPUs("/proc", os.Getpid())
	if Format(mine) != Format(p.Loadgen) || len(children) != 2 || Format(children[0]) != Format(p.Proxies) || Format(children[1]) != Format(cpus) {
		t.Errorf("threads on %v, children on %v; want %v and %v", mine, children, p.Loadgen, p.Proxies)
	}
	if got != Format(p.Loadgen) || after != Format(cpus) {
		t.Errorf("process list %q during, %q after; want %q and %q", got, after, Format(p.Loadgen), Format(cpus))
	}
}
