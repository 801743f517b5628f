package hoststats

import (
	"fmt"
	"maps"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// parseNetCounters reads the header/value line pairs of /proc/net/snmp
// and /proc/net/netstat ("Tcp: A B C" then "Tcp: 1 2 3") into
// "Tcp.A" → 1. Values may be negative (Tcp MaxConn is -1).
//
// Own code because gopsutil does not do the job: its ProtoCounters reads
// /proc/net/snmp only (the listen-queue overflows and drops are TcpExt
// counters, in netstat), and it panics with an index out of range on a
// file cut after a header line, which would take the whole run down from
// the sampling goroutine (TestNetTruncatedSnmp).
func parseNetCounters(text string) (map[string]int64, error) {
	out := map[string]int64{}
	var header []string
	var proto string
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		p := strings.TrimSuffix(f[0], ":")
		if header == nil || p != proto {
			if header != nil {
				return nil, fmt.Errorf("%s: names without values", proto)
			}
			header, proto = f[1:], p
			continue
		}
		if len(f)-1 != len(header) {
			return nil, fmt.Errorf("%s: %d names but %d values", p, len(header), len(f)-1)
		}
		for i, name := range header {
			out[p+"."+name] = atoi64(f[i+1])
		}
		header = nil
	}
	if header != nil {
		return nil, fmt.Errorf("%s: names without values (cut short)", proto)
	}
	return out, nil
}

func readNet(r Roots) (map[string]int64, error) {
	out := map[string]int64{}
	for _, name := range []string{"snmp", "netstat"} {
		text, err := readString(r.proc("net", name))
		if err != nil {
			return nil, err
		}
		m, err := parseNetCounters(text)
		if err != nil {
			return nil, fmt.Errorf("net/%s: %w", name, err)
		}
		maps.Copy(out, m)
	}
	return out, nil
}

// netDelta compares two readings. The counters are unsigned in the kernel
// but printed through signed fields on some; a drop is clamped to 0.
func netDelta(a, b map[string]int64) *results.NetStats {
	d := func(k string) int64 { return max(b[k]-a[k], 0) }
	n := &results.NetStats{
		TCPOutSegs:      d("Tcp.OutSegs"),
		TCPRetransSegs:  d("Tcp.RetransSegs"),
		ListenOverflows: d("TcpExt.ListenOverflows"),
		ListenDrops:     d("TcpExt.ListenDrops"),
	}
	n.RetransPct = pct(float64(n.TCPRetransSegs), float64(n.TCPOutSegs))
	return n
}
