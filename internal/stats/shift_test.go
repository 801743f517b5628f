package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteU enumerates every way to choose which m of the values 0..m+n-1 are
// x's and counts the pairs with the y above: the distribution of U by
// definition, to check the recursion against.
func bruteU(m, n int) []float64 {
	c := make([]float64, m*n+1)
	N := m + n
	for mask := 0; mask < 1<<N; mask++ {
		if popcount(mask) != m {
			continue
		}
		u := 0
		for i := 0; i < N; i++ { // i is an x when its bit is set
			for j := 0; j < N; j++ {
				if mask&(1<<i) != 0 && mask&(1<<j) == 0 && j > i {
					u++
				}
			}
		}
		c[u]++
	}
	return c
}

func popcount(x int) int {
	n := 0
	for ; x > 0; x &= x - 1 {
		n++
	}
	return n
}

func TestMannWhitneyCountsMatchEnumeration(t *testing.T) {
	t.Parallel()
	for m := 1; m <= 5; m++ {
		for n := 1; n <= 6; n++ {
			got, want := mannWhitneyCounts(m, n), bruteU(m, n)
			if len(got) != len(want) {
				t.Fatalf("m=%d n=%d: %d counts, want %d", m, n, len(got), len(want))
			}
			for u := range want {
				if got[u] != want[u] {
					t.Errorf("m=%d n=%d: c[%d] = %g, want %g", m, n, u, got[u], want[u])
				}
			}
		}
	}
}

// TestCriticalValuesMatchTables: the interval drops k−1 differences (or
// Walsh averages) at each end; k−1 is the two-sided 5% critical value of
// the published tables (Mann-Whitney U; Wilcoxon signed-rank T).
func TestCriticalValuesMatchTables(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ m, n, crit int }{{5, 5, 2}, {6, 6, 5}, {7, 7, 8}, {8, 8, 13}, {10, 10, 23}, {20, 20, 127}, {4, 4, 0}} {
		k, cov := exactCritical(cumulative(mannWhitneyCounts(c.m, c.n)), 0.025)
		if k-1 != c.crit || cov < 0.95 {
			t.Errorf("U m=%d n=%d: critical %d (coverage %.4f), want %d", c.m, c.n, k-1, cov, c.crit)
		}
	}
	for _, c := range []struct{ n, crit int }{{6, 0}, {7, 2}, {8, 3}, {9, 5}, {10, 8}, {20, 52}} {
		k, cov := exactCritical(cumulative(signedRankCounts(c.n)), 0.025)
		if k-1 != c.crit || cov < 0.95 {
			t.Errorf("T n=%d: critical %d (coverage %.4f), want %d", c.n, k-1, cov, c.crit)
		}
	}
	// Too few: 3 a side (P(U=0) = 1/20) and 5 pairs (P(T=0) = 1/32)
	// cannot reach 95%.
	if s := MannWhitneyShift([]float64{1, 2, 3}, []float64{4, 5, 6}, 0.95); s.Reaches(0.95) || s.Lo != 1 || s.Hi != 5 {
		t.Errorf("3 vs 3: %+v", s)
	}
	if s := WilcoxonShift([]float64{1, 2, 3, 4, 5}, 0.95); s.Reaches(0.95) || s.Lo != 1 || s.Hi != 5 {
		t.Errorf("5 pairs: %+v", s)
	}
}

// TestWilcoxonKnownExample is the paired example of R's wilcox.test help
// (Hollander & Wolfe, depression scale before and after): V = 40, exact
// one-sided p = 0.01953, so two-sided 0.03906.
func TestWilcoxonKnownExample(t *testing.T) {
	t.Parallel()
	x := []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30}
	y := []float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}
	d := make([]float64, len(x))
	for i := range x {
		d[i] = x[i] - y[i]
	}
	tplus, nz, ties := signedRank(d)
	if tplus != 40 || nz != 9 || len(ties) != 0 {
		t.Fatalf("V = %g (n %d, ties %v), want 40", tplus, nz, ties)
	}
	s := WilcoxonShift(d, 0.95)
	if !s.Exact || math.Abs(s.P-20.0/512) > 1e-9 {
		t.Errorf("p = %g (exact %v), want %g", s.P, s.Exact, 20.0/512)
	}
	if !(s.Lo > 0 && s.Lo <= s.Estimate && s.Estimate <= s.Hi) {
		t.Errorf("interval [%g, %g] around %g should exclude 0", s.Lo, s.Hi, s.Estimate)
	}
}

func TestMannWhitneyShiftEstimate(t *testing.T) {
	t.Parallel()
	x := []float64{10, 11, 12, 13, 14, math.NaN()}
	y := []float64{20, 21, 22, 23, 24}
	s := MannWhitneyShift(x, y, 0.95)
	// Differences run 6..14 (6 once, 7 twice, ..., 10 five times, ...);
	// their median is 10. With 5 a side the interval drops 2 at each end
	// of the 25 sorted differences: [7, 13].
	if s.Estimate != 10 || s.N != 5 || s.M != 5 || !s.Exact || !s.Reaches(0.95) {
		t.Fatalf("%+v", s)
	}
	if s.Lo != 7 || s.Hi != 13 || math.Abs(s.P-2.0/252) > 1e-12 {
		t.Errorf("interval [%g, %g] p %g, want [7, 13] p %g", s.Lo, s.Hi, s.P, 2.0/252)
	}
}

// TestNormalApproximationWithTies compares the tie-corrected normal
// p-value with the exact permutation p-value, found by enumerating every
// split of a pooled sample with many ties (12870 splits).
func TestNormalApproximationWithTies(t *testing.T) {
	t.Parallel()
	x := []float64{1, 2, 2, 3, 3, 3, 4, 5}
	y := []float64{2, 3, 4, 4, 5, 5, 6, 6}
	s := MannWhitneyShift(x, y, 0.95)
	if s.Exact {
		t.Fatal("ties must use the normal approximation")
	}
	pool := append(append([]float64{}, x...), y...)
	u0, _ := mannWhitneyU(x, y)
	mean := float64(len(x)*len(y)) / 2
	extreme, total := 0, 0
	for mask := 0; mask < 1<<len(pool); mask++ {
		if popcount(mask) != len(x) {
			continue
		}
		var a, b []float64
		for i, v := range pool {
			if mask&(1<<i) != 0 {
				a = append(a, v)
			} else {
				b = append(b, v)
			}
		}
		u, _ := mannWhitneyU(a, b)
		total++
		if math.Abs(u-mean) >= math.Abs(u0-mean)-1e-9 {
			extreme++
		}
	}
	exact := float64(extreme) / float64(total)
	if math.Abs(s.P-exact) > 0.01 {
		t.Errorf("normal p %.4f, permutation p %.4f", s.P, exact)
	}
}

// TestNormalApproximationNoTies: past ExactMax the approximation takes
// over; at 30 a side it must agree with the exact count.
func TestNormalApproximationNoTies(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float64, 30), make([]float64, 30)
	for i := range x {
		x[i], y[i] = rng.NormFloat64(), rng.NormFloat64()+0.5
	}
	cdf := cumulative(mannWhitneyCounts(30, 30))
	kExact, covExact := exactCritical(cdf, 0.025)
	u, _ := mannWhitneyU(x, y)
	pExact := exactP(cdf, u)
	sd := math.Sqrt(30.0 * 30 * 61 / 12)
	kNorm, covNorm := normalCritical(450, sd, 0.025)
	pNorm := normalP(u, 450, sd)
	if abs(kExact-kNorm) > 1 || math.Abs(covExact-covNorm) > 0.005 || math.Abs(pExact-pNorm) > 0.005 {
		t.Errorf("exact k %d cov %.4f p %.4f; normal k %d cov %.4f p %.4f", kExact, covExact, pExact, kNorm, covNorm, pNorm)
	}
	d := make([]float64, 40)
	for i := range d {
		d[i] = rng.NormFloat64() + 0.3
	}
	tplus, _, _ := signedRank(d)
	cdfT := cumulative(signedRankCounts(40))
	sdT := math.Sqrt(40.0 * 41 * 81 / 24)
	if pe, pn := exactP(cdfT, tplus), normalP(tplus, 410, sdT); math.Abs(pe-pn) > 0.005 {
		t.Errorf("signed rank: exact p %.4f, normal %.4f", pe, pn)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestShiftCoverage draws skewed samples (exponential, with a long tail as
// latencies have) with a known shift, and symmetric paired differences
// around a known centre, and counts how often the 95% interval
// holds it: at least 93% of 2000 draws, for two samples of 6 and for 10
// pairs.
func TestShiftCoverage(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	const reps, shift = 2000, 0.2
	hitMW, hitW := 0, 0
	for r := 0; r < reps; r++ {
		x, y := make([]float64, 6), make([]float64, 6)
		for i := range x {
			x[i] = rng.ExpFloat64()
			y[i] = rng.ExpFloat64() + shift
		}
		if s := MannWhitneyShift(x, y, 0.95); s.Lo <= shift && shift <= s.Hi {
			hitMW++
		}
		d := make([]float64, 10)
		for i := range d {
			d[i] = rng.NormFloat64()*0.2 + shift
		}
		if s := WilcoxonShift(d, 0.95); s.Lo <= shift && shift <= s.Hi {
			hitW++
		}
	}
	if hitMW < reps*93/100 || hitW < reps*93/100 {
		t.Errorf("coverage: Mann-Whitney %d/%d, Wilcoxon %d/%d", hitMW, reps, hitW, reps)
	}
}
