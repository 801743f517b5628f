package hoststats

import (
	"testing"
	"time"
)

func TestParsePSI(t *testing.T) {
	t.Parallel()
	p, err := parsePSI("some avg10=12.50 avg60=2.72 avg300=4.02 total=30690742\nfull avg10=1.25 avg60=0.00 avg300=0.00 total=99\n")
	if err != nil || p.some.avg10 != 12.5 || p.some.total != 30690742 || p.full.avg10 != 1.25 || p.full.total != 99 {
		t.Errorf("%+v %v", p, err)
	}
	// Before 5.13 the cpu file has no full line.
	if p, err := parsePSI("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"); err != nil || p.some.total != 5 {
		t.Errorf("no full line: %+v %v", p, err)
	}
	if _, err := parsePSI("garbage\n"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestPSIShares(t *testing.T) {
	t.Parallel()
	a, err := readPSI(fixture("thishost"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := readPSI(Roots{Proc: "testdata/thishost/later/proc"})
	if err != nil {
		t.Fatal(err)
	}
	s := psiShares(a, b, time.Second)
	// Over the second between the snapshots some task waited on io for
	// 31.2 ms, every task for 25.9 ms; cpu some grew 8.1 ms.
	if s.IOSomePct != 3.12 || s.IOFullPct != 2.59 || s.CPUSomePct != 0.81 || s.MemorySomePct != 0 || s.Avg10.IOSome != 0.64 {
		t.Errorf("shares %+v", s)
	}
	// A window shorter than the stall growth is capped at 100%.
	if s := psiShares(a, b, time.Microsecond); s.IOSomePct != 100 {
		t.Errorf("cap: %v", s.IOSomePct)
	}
}
