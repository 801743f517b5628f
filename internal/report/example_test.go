package report_test

import (
	"log"
	"os"

	"github.com/meshbench/meshbench/internal/report"
	"github.com/meshbench/meshbench/internal/results"
)

// One result file gives the full report of its run; the same Report value
// renders as markdown, JSON, CSV, an HdrHistogram log or SMP.
func ExampleWrite() {
	f, err := results.Read("testdata/bare-metal.json")
	if err != nil {
		log.Fatal(err)
	}
	r, err := report.Build([]*results.File{f}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := report.Write(os.Stdout, r, "table", report.Options{}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// dedi-ryzen · 16 cores · AMD Ryzen 7 7700 8-Core Processor · 2026-11-20 12:30 UTC · 1000 req/s, 10s per path, 512 B payload
	//
	// path     requests  rate/target  errors  late    p50    p90    p99  p99.9    max          +p50          +p99  proxy cpu s  cpu ms/1k req  peak rss MB
	// direct      10000   999.9/1000       0     0  0.098  0.119  0.139  0.156  0.908             -             -            -              -            -
	// haproxy     10000   999.9/1000       0     0  0.158  0.191  0.222  0.247  0.987  +0.060 (n=1)  +0.083 (n=1)        0.364           36.4         14.0
	// linkerd     10000   999.9/1000       0     0  0.178  0.215  0.255  0.304  1.000  +0.080 (n=1)  +0.116 (n=1)        0.429           42.9         21.0
	// latency: response time from the intended send, ms; +pNN: overhead over direct at that percentile, ms, with its 95% interval [lo, hi] from paired windows ((n=N): too few windows for one)
	// host: virtualization bare metal · steal 0.00% (worst interval 0.00%) · iowait 0.01% · worst disk nvme0n1 (nvme) aqu-sz 0
	// notes:
	//   - the load generator, the backend replicas and the proxies share this host's 16 CPU cores; compare paths measured in the same run, as ratios, rather than with other hosts' absolute figures
}
