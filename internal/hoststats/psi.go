package hoststats

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/results"
)

// Pressure stall information is read here because gopsutil has no reader
// for /proc/pressure (TestPSIShares reads real snapshots).

// psiLine is one line of a /proc/pressure file: the kernel's 10 s average
// (percent) and the stall time since boot (µs).
type psiLine struct {
	avg10 float64
	total uint64
}

// psiFile is one resource's pressure: "some" (at least one task stalled)
// and "full" (all non-idle tasks stalled).
type psiFile struct{ some, full psiLine }

var psiResources = []string{"cpu", "io", "memory"}

// parsePSI reads a /proc/pressure/{cpu,io,memory} file. Kernels before
// 5.13 have no "full" line for cpu; it is then zero.
func parsePSI(text string) (psiFile, error) {
	var p psiFile
	seen := false
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var dst *psiLine
		switch f[0] {
		case "some":
			dst = &p.some
			seen = true
		case "full":
			dst = &p.full
		default:
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "avg10":
				dst.avg10, _ = strconv.ParseFloat(v, 64)
			case "total":
				dst.total = atou64(v)
			}
		}
	}
	if !seen {
		return psiFile{}, fmt.Errorf("no \"some\" line")
	}
	return p, nil
}

func readPSI(r Roots) (map[string]psiFile, error) {
	out := make(map[string]psiFile, len(psiResources))
	for _, res := range psiResources {
		text, err := readString(r.proc("pressure", res))
		if err != nil {
			return nil, err
		}
		p, err := parsePSI(text)
		if err != nil {
			return nil, fmt.Errorf("pressure/%s: %w", res, err)
		}
		out[res] = p
	}
	return out, nil
}

// psiShares turns stall totals into shares of the wall time between two
// snapshots. avg10 comes from the later one.
func psiShares(a, b map[string]psiFile, wall time.Duration) *results.PSIStats {
	us := float64(wall.Microseconds())
	share := func(res string, full bool) float64 {
		x, y := a[res].some.total, b[res].some.total
		if full {
			x, y = a[res].full.total, b[res].full.total
		}
		return min(pct(float64(delta(x, y)), us), 100)
	}
	return &results.PSIStats{
		CPUSomePct:    share("cpu", false),
		CPUFullPct:    share("cpu", true),
		IOSomePct:     share("io", false),
		IOFullPct:     share("io", true),
		MemorySomePct: share("memory", false),
		MemoryFullPct: share("memory", true),
		Avg10: &results.PSIAvg10{
			CPUSome:    b["cpu"].some.avg10,
			IOSome:     b["io"].some.avg10,
			IOFull:     b["io"].full.avg10,
			MemorySome: b["memory"].some.avg10,
			MemoryFull: b["memory"].full.avg10,
		},
	}
}
