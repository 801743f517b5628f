package hoststats

import (
	"fmt"
	"strings"

	"github.com/meshbench/meshbench/internal/results"
)

// parseNetCounters reads the header/value line pairs of /proc/net/snmp
// and /proc/net/netstat ("Tcp: A B C" then "Tcp: 1 2 3") into
// "Tcp.A" → 1. Values may be negative (Tcp MaxConn is -1).
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
		for k, v := range m {
			out[k] = v
		}
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
