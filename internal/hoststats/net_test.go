package hoststats

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/net"

	"github.com/meshbench/meshbench/internal/results"
)

func TestNetCounters(t *testing.T) {
	t.Parallel()
	a, err := readNet(fixture("thishost"))
	if err != nil {
		t.Fatal(err)
	}
	if a["Tcp.MaxConn"] != -1 || a["Tcp.OutSegs"] <= 0 {
		t.Errorf("Tcp: MaxConn %d OutSegs %d", a["Tcp.MaxConn"], a["Tcp.OutSegs"])
	}
	if _, ok := a["TcpExt.ListenOverflows"]; !ok {
		t.Error("no TcpExt.ListenOverflows")
	}
	b := map[string]int64{"Tcp.OutSegs": a["Tcp.OutSegs"] + 2000, "Tcp.RetransSegs": a["Tcp.RetransSegs"] + 30,
		"TcpExt.ListenOverflows": a["TcpExt.ListenOverflows"] + 4, "TcpExt.ListenDrops": a["TcpExt.ListenDrops"] + 5}
	want := results.NetStats{TCPOutSegs: 2000, TCPRetransSegs: 30, RetransPct: 1.5, ListenOverflows: 4, ListenDrops: 5}
	if got := netDelta(a, b); *got != want {
		t.Errorf("delta %+v, want %+v", *got, want)
	}
	if _, err := parseNetCounters("Tcp: A B\nTcp: 1\n"); err == nil {
		t.Error("mismatched line accepted")
	}
}

// TestNetTruncatedSnmp is why the net counters are read here and not by
// gopsutil: on a /proc/net/snmp cut after a header line gopsutil panics,
// which in the sampling goroutine would end the whole run. Here the window
// gets an error instead.
func TestNetTruncatedSnmp(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	copyTree(t, "testdata/thishost/proc/net", filepath.Join(root, "net"))
	full := readFixture(t, "thishost", "proc", "net", "snmp")
	cut := full[:strings.Index(full, "Tcp:")] + "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn\n"
	if err := os.WriteFile(filepath.Join(root, "net", "snmp"), []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Roots{Proc: root}
	if m, err := readNet(r); err == nil || !strings.Contains(err.Error(), "Tcp: names without values") {
		t.Errorf("cut snmp: %v, %v", m, err)
	}
	panicked := func() (p any) {
		defer func() { p = recover() }()
		_, _ = net.ProtoCountersWithContext(r.ctx(context.Background()), []string{"tcp"})
		return nil
	}()
	if panicked == nil {
		t.Error("gopsutil no longer panics on a cut /proc/net/snmp: it may read the Tcp counters now")
	}
}
