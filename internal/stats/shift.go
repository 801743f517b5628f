package stats

import (
	"cmp"
	"math"
	"slices"
)

// Shift is how far one sample lies above another (two samples), or the
// centre of paired differences: the Hodges-Lehmann estimate, its
// distribution-free confidence interval, and the two-sided p-value of the
// rank test the interval is built from.
type Shift struct {
	// Estimate is the median of the pairwise differences y−x (two
	// samples) or of the Walsh averages (paired).
	Estimate float64
	// Lo and Hi bound the shift with probability Coverage.
	Lo, Hi float64
	// Coverage is the interval's confidence: exact when Exact, otherwise
	// from the normal approximation. It is below the level asked for only
	// when the samples are too few to reach it; the interval is then the
	// whole range of the differences.
	Coverage float64
	// P is the two-sided p-value for "no shift".
	P float64
	// Exact says the rank statistic's distribution was counted rather than
	// approximated: no ties, and at most ExactMax samples a side.
	Exact bool
	// N is the number of y values (or of pairs); M the number of x values
	// (0 for paired differences).
	N, M int
}

// Reaches reports whether the interval reaches the level asked for.
func (s Shift) Reaches(level float64) bool { return s.N > 0 && s.Coverage >= level-1e-12 }

// ExactMax is the largest sample (per side) whose rank distribution is
// counted exactly; beyond it the normal approximation is within a few
// thousandths of it.
const ExactMax = 50

// MannWhitneyShift estimates how far y lies above x: the Hodges-Lehmann
// estimate (the median of all differences y_j − x_i) with the interval
// [D(k), D(mn+1−k)] of the sorted differences, k taken from the null
// distribution of the Mann-Whitney U statistic so that the interval covers
// the shift with at least probability level (Hollander & Wolfe, ch. 4).
// It assumes the two samples differ by a shift; the test itself assumes
// only that they are independent. NaN and infinite values are ignored.
func MannWhitneyShift(x, y []float64, level float64) Shift {
	x, y = finite(x), finite(y)
	m, n := len(x), len(y)
	s := Shift{N: n, M: m}
	if m == 0 || n == 0 {
		return s
	}
	d := make([]float64, 0, m*n)
	for _, a := range x {
		for _, b := range y {
			d = append(d, b-a)
		}
	}
	slices.Sort(d)
	s.Estimate = median(d)
	u, ties := mannWhitneyU(x, y)
	total := m * n
	alpha := (1 - level) / 2
	var k int
	if len(ties) == 0 && m <= ExactMax && n <= ExactMax {
		cdf := cumulative(mannWhitneyCounts(m, n))
		s.Exact = true
		k, s.Coverage = exactCritical(cdf, alpha)
		s.P = exactP(cdf, u)
	} else {
		N := float64(m + n)
		tie := 0.0
		for _, t := range ties {
			tie += float64(t*t*t - t)
		}
		sd := math.Sqrt(float64(m*n) / 12 * ((N + 1) - tie/(N*(N-1))))
		k, s.Coverage = normalCritical(float64(total)/2, sd, alpha)
		s.P = normalP(u, float64(total)/2, sd)
	}
	s.Lo, s.Hi = d[k-1], d[total-k]
	return s
}

// WilcoxonShift estimates the centre of paired differences d: the
// Hodges-Lehmann estimate (the median of the Walsh averages (d_i+d_j)/2,
// i ≤ j) with the interval of the sorted Walsh averages whose coverage
// comes from the null distribution of the Wilcoxon signed-rank statistic.
// It assumes the differences are symmetric about their centre; zeros are
// left out of the test (Wilcoxon's convention) and kept in the estimate.
func WilcoxonShift(d []float64, level float64) Shift {
	d = finite(d)
	n := len(d)
	s := Shift{N: n}
	if n == 0 {
		return s
	}
	w := make([]float64, 0, n*(n+1)/2)
	for i := range d {
		for j := i; j < n; j++ {
			w = append(w, (d[i]+d[j])/2)
		}
	}
	slices.Sort(w)
	s.Estimate = median(w)
	tplus, nz, ties := signedRank(d)
	total := len(w)
	alpha := (1 - level) / 2
	var k int
	if len(ties) == 0 && nz == n && n <= ExactMax {
		cdf := cumulative(signedRankCounts(n))
		s.Exact = true
		k, s.Coverage = exactCritical(cdf, alpha)
		s.P = exactP(cdf, tplus)
	} else {
		tie := 0.0
		for _, t := range ties {
			tie += float64(t*t*t - t)
		}
		nf := float64(n)
		sd := math.Sqrt(nf*(nf+1)*(2*nf+1)/24 - tie/48)
		k, s.Coverage = normalCritical(float64(total)/2, sd, alpha)
		if nz == 0 {
			s.P = 1
		} else {
			z := float64(nz)
			sdz := math.Sqrt(z*(z+1)*(2*z+1)/24 - tie/48)
			s.P = normalP(tplus, z*(z+1)/4, sdz)
		}
	}
	s.Lo, s.Hi = w[k-1], w[total-k]
	return s
}

// mannWhitneyU is the number of pairs with y above x (ties count one
// half), from midranks of the pooled sample, and the sizes of its groups of
// tied values.
func mannWhitneyU(x, y []float64) (u float64, ties []int) {
	type obs struct {
		v   float64
		isY bool
	}
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v, false})
	}
	for _, v := range y {
		all = append(all, obs{v, true})
	}
	slices.SortFunc(all, func(a, b obs) int { return cmp.Compare(a.v, b.v) })
	rankY := 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].isY {
				rankY += mid
			}
		}
		if j-i > 1 {
			ties = append(ties, j-i)
		}
		i = j
	}
	n := float64(len(y))
	return rankY - n*(n+1)/2, ties
}

// signedRank is the sum of the midranks of |d| over the positive d, the
// number of non-zero d, and the sizes of groups of tied |d| (zeros left out).
func signedRank(d []float64) (tplus float64, nonzero int, ties []int) {
	var a []float64
	for _, v := range d {
		if v != 0 {
			a = append(a, v)
		}
	}
	slices.SortFunc(a, func(p, q float64) int { return cmp.Compare(math.Abs(p), math.Abs(q)) })
	for i := 0; i < len(a); {
		j := i
		for j < len(a) && math.Abs(a[j]) == math.Abs(a[i]) {
			j++
		}
		mid := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if a[k] > 0 {
				tplus += mid
			}
		}
		if j-i > 1 {
			ties = append(ties, j-i)
		}
		i = j
	}
	return tplus, len(a), ties
}

// mannWhitneyCounts returns c[u], the number of orderings of m x's and n
// y's (no ties) in which u pairs have the y above the x, for u = 0..m·n.
// The largest value of all is a y, above every x (u grows by the x count),
// or an x, above no y: c(i, j) = c(i, j−1) shifted by i + c(i−1, j). Counts
// are kept in float64: the largest, C(100, 50) ≈ 1e29, keeps its relative
// precision, and only additions are made.
func mannWhitneyCounts(m, n int) []float64 {
	prev := make([][]float64, n+1) // i x's so far, j = 0..n y's
	for j := range prev {
		prev[j] = []float64{1}
	}
	for i := 1; i <= m; i++ {
		cur := make([][]float64, n+1)
		cur[0] = []float64{1}
		for j := 1; j <= n; j++ {
			c := make([]float64, i*j+1)
			copy(c, prev[j])
			for u, v := range cur[j-1] {
				c[u+i] += v
			}
			cur[j] = c
		}
		prev = cur
	}
	return prev[n]
}

// signedRankCounts returns c[t], the number of subsets of the ranks 1..n
// that sum to t, for t = 0..n(n+1)/2.
func signedRankCounts(n int) []float64 {
	c := make([]float64, n*(n+1)/2+1)
	c[0] = 1
	top := 0
	for r := 1; r <= n; r++ {
		top += r
		for t := top; t >= r; t-- {
			c[t] += c[t-r]
		}
	}
	return c
}

// cumulative turns counts into a distribution function: cdf[t] = P(T ≤ t).
func cumulative(c []float64) []float64 {
	total := 0.0
	for _, v := range c {
		total += v
	}
	cdf := make([]float64, len(c))
	run := 0.0
	for i, v := range c {
		run += v
		cdf[i] = run / total
	}
	return cdf
}

// exactCritical is the largest k ≥ 1 with P(T ≤ k−1) ≤ alpha, and the
// coverage 1 − 2·P(T ≤ k−1) of the interval that drops k−1 values at each
// end. When even P(T ≤ 0) is above alpha, k is 1 and the coverage falls
// short of the level.
func exactCritical(cdf []float64, alpha float64) (k int, coverage float64) {
	k = 1
	for k < len(cdf)/2 && cdf[k] <= alpha+1e-12 {
		k++
	}
	return k, 1 - 2*cdf[k-1]
}

// exactP is the two-sided p-value of a statistic t under the counted
// distribution, which is symmetric.
func exactP(cdf []float64, t float64) float64 {
	i := int(math.Round(t))
	lower := cdf[min(i, len(cdf)-1)]
	upper := 1.0 // P(T ≥ t)
	if i > 0 {
		upper = 1 - cdf[i-1]
	}
	return min(1, 2*min(lower, upper))
}

// normalCritical is exactCritical for a statistic approximated by a
// normal distribution with a continuity correction.
func normalCritical(mean, sd, alpha float64) (k int, coverage float64) {
	if sd <= 0 {
		return 1, 0
	}
	z := math.Sqrt2 * math.Erfinv(1-2*alpha)
	k = int(math.Floor(mean - z*sd + 0.5))
	k = max(1, min(k, int(mean)))
	return k, 1 - 2*normCDF((float64(k)-0.5-mean)/sd)
}

// normalP is the two-sided p-value of t, normal with a continuity correction.
func normalP(t, mean, sd float64) float64 {
	if sd <= 0 {
		return 1
	}
	z := max(0, math.Abs(t-mean)-0.5) / sd
	return min(1, 2*normCDF(-z))
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

func finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}
