package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHostRoots(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env               map[string]string
		wantProc, wantSys string
	}{
		{nil, "/proc", "/sys"},
		{map[string]string{"HOST_PROC": "/host/proc", "HOST_SYS": "/host/sys/"}, "/host/proc", "/host/sys"},
		{map[string]string{"HOST_PROC": "/host/proc"}, "/host/proc", "/sys"},
		{map[string]string{"HOST_SYS": "/host/sys", "HOST_PROC": ""}, "/proc", "/host/sys"},
	} {
		proc, sys := hostRoots(func(k string) string { return tc.env[k] })
		if proc != tc.wantProc || sys != tc.wantSys {
			t.Errorf("%v: %s %s, want %s %s", tc.env, proc, sys, tc.wantProc, tc.wantSys)
		}
	}
}

// TestOSWorldHostRoots: with HOST_PROC and HOST_SYS set, `meshbench host`
// in the real world reads the host from there (a fixture tree standing in
// for a node's /proc and /sys mounted into a container).
func TestOSWorldHostRoots(t *testing.T) {
	base, err := filepath.Abs(filepath.Join("..", "hoststats", "testdata", "kvm-nvme"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOST_PROC", filepath.Join(base, "proc"))
	t.Setenv("HOST_SYS", filepath.Join(base, "sys"))
	w := OSWorld()
	if w.ProcRoot != filepath.Join(base, "proc") || w.SysRoot != filepath.Join(base, "sys") {
		t.Fatalf("OSWorld roots %s %s", w.ProcRoot, w.SysRoot)
	}
	var out, errb bytes.Buffer
	w.Args = []string{"host", "--duration", "100ms", "--probes", "none", "--format", "json"}
	w.Stdin, w.Stdout, w.Stderr = strings.NewReader(""), &out, &errb
	if code := Main(context.Background(), w); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Host struct {
			Hostname string `json:"hostname"`
			Disks    []struct{ Name string }
		} `json:"host"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Host.Hostname != "kvm-nvme-1" || len(rep.Host.Disks) == 0 || rep.Host.Disks[0].Name != "nvme0n1" {
		t.Errorf("host %+v: not the fixture's (kvm-nvme-1, nvme0n1)", rep.Host)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	cmd, flags, err := ParseArgs([]string{"serve", "--listen", "0.0.0.0:7400", "--token-file", "/t", "--idle-timeout", "0", "--path-ports", "direct=7410,haproxy=7402"})
	if err != nil {
		t.Fatal(err)
	}
	idle, err1 := flags.GetDuration("idle-timeout")
	ports, err2 := flags.GetStringSlice("path-ports")
	if cmd != "serve" || err1 != nil || err2 != nil || idle != 0 || len(ports) != 2 {
		t.Errorf("serve: %q, idle %v (%v), ports %v (%v)", cmd, idle, err1, ports, err2)
	}
	if _, flags, err := ParseArgs([]string{"host", "--duration", "30s", "--out", "/r/$(NODE_NAME).json"}); err != nil {
		t.Error(err)
	} else if d, _ := flags.GetDuration("duration"); d != 30*time.Second {
		t.Errorf("host --duration %v", d)
	}
	for _, bad := range [][]string{
		{"serve", "--listen", "0.0.0.0:7400", "--idle", "0"}, // not a flag of serve
		{"run", "--share-count", "two"},                      // not a number
		{"host", "extra"},                                    // host takes no arguments
		{"serv"},                                             // no such command
		{"--version"},                                        // no command at all
	} {
		if _, _, err := ParseArgs(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
