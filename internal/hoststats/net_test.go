package hoststats

import (
	"testing"

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
