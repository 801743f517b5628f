// Package stats holds the few distribution-free statistics meshbench decides
// with: an interval for a median from order statistics (sign test), used for
// the overhead of a path from paired window samples; and a shift between two
// samples, or the centre of paired differences, with its interval (package
// gate decides regressions with it: shift.go).
//
// Why rank-based rather than a bootstrap: window latencies are skewed and
// have outliers (a GC pause, a neighbour's burst), and their number is small
// (tens). The sign-test interval assumes neither a shape nor a large sample,
// its coverage is exact (computed from the binomial distribution, not
// approximated), and it is deterministic: the same samples give the same
// interval, which a CI gate needs.
//
// For a gate the question is "did B move against A, and by how much": the
// Hodges-Lehmann shift with the interval of the Mann-Whitney U test (two
// runs) or of the Wilcoxon signed-rank test (windows paired in one run).
// They are as robust to outliers as the medians they generalise, but use
// every sample's rank, so at the 5-10 windows a CI run affords they reach a
// 95% interval where the sign test cannot (it needs 6 pairs for any 95%
// interval; Mann-Whitney needs 4 windows a side). A bootstrap of 5 values
// has 126 distinct resamples and its percentile interval is known to
// under-cover at such sizes, and it is random. Both distributions are
// counted exactly when there are no ties and at most ExactMax samples a
// side; otherwise the normal approximation with the tie correction of the
// variance is used, as statistics packages do.
package stats

import (
	"math"
	"slices"
)

// Interval is an estimate of a median with its confidence interval.
type Interval struct {
	// Median is the sample median (the mean of the middle two for an even count).
	Median float64
	// Lo and Hi bound the population median with probability Coverage.
	Lo, Hi float64
	// Coverage is the interval's exact confidence under the sign test. It is
	// below the level asked for only when there are too few samples to
	// reach it; then the interval is the whole sample range.
	Coverage float64
	// N is the number of samples.
	N int
}

// Contains reports whether v lies inside the interval, bounds included.
func (iv Interval) Contains(v float64) bool { return iv.Lo <= v && v <= iv.Hi }

// MinSamples95 is the smallest sample count whose sign-test interval (the
// whole range) reaches 95% coverage: 1 - 2·0.5^6 = 96.9%.
const MinSamples95 = 6

// MedianInterval returns the median of xs and the narrowest order-statistic
// interval [x(k), x(n+1-k)] whose coverage is at least level (e.g. 0.95).
// NaN values are ignored. With no samples it returns the zero Interval.
func MedianInterval(xs []float64, level float64) Interval {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	n := len(s)
	if n == 0 {
		return Interval{}
	}
	slices.Sort(s)
	iv := Interval{N: n, Median: median(s)}
	// Coverage of [x(k), x(n+1-k)] is 1 - 2·P(B ≤ k-1), B ~ Binomial(n, ½).
	// Widen from the middle until it is reached; k = 1 is the whole range.
	k := 1
	for j := n / 2; j >= 1; j-- {
		if 1-2*binomCDF(j-1, n) >= level {
			k = j
			break
		}
	}
	iv.Lo, iv.Hi = s[k-1], s[n-k]
	iv.Coverage = 1 - 2*binomCDF(k-1, n)
	if n == 1 {
		iv.Coverage = 0
	}
	return iv
}

// Median is the sample median of xs (NaN for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return median(s)
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// binomCDF is P(B ≤ k) for B ~ Binomial(n, ½), summed in log space so that
// large n does not overflow.
func binomCDF(k, n int) float64 {
	if k < 0 {
		return 0
	}
	if k >= n {
		return 1
	}
	sum := 0.0
	for i := 0; i <= k; i++ {
		sum += math.Exp(logChoose(n, i) - float64(n)*math.Ln2)
	}
	return min(sum, 1)
}

func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}
