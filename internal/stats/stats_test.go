package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBinomCDF(t *testing.T) {
	for _, c := range []struct {
		k, n int
		want float64
	}{{0, 6, 1.0 / 64}, {1, 10, 11.0 / 1024}, {2, 4, 11.0 / 16}, {-1, 5, 0}, {5, 5, 1}} {
		if got := binomCDF(c.k, c.n); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("P(B<=%d | n=%d) = %g, want %g", c.k, c.n, got, c.want)
		}
	}
}

func TestMedianIntervalOrderStatistics(t *testing.T) {
	xs := []float64{9, 1, 8, 2, 7, 3, 6, 4, 5, 10}
	iv := MedianInterval(xs, 0.95)
	// n=10: [x(2), x(9)] covers 1 - 2·11/1024 = 97.85%; [x(3), x(8)] only 89%.
	if iv.Median != 5.5 || iv.Lo != 2 || iv.Hi != 9 || math.Abs(iv.Coverage-(1-22.0/1024)) > 1e-12 || iv.N != 10 {
		t.Errorf("got %+v", iv)
	}
	few := MedianInterval([]float64{3, 1, 2, math.NaN()}, 0.95)
	if few.Lo != 1 || few.Hi != 3 || few.N != 3 || few.Coverage >= 0.95 {
		t.Errorf("three samples: %+v (the range, below 95%%)", few)
	}
	if six := MedianInterval([]float64{1, 2, 3, 4, 5, 6}, 0.95); six.Coverage < 0.95 || six.Lo != 1 || six.Hi != 6 {
		t.Errorf("six samples: %+v", six)
	}
	if z := MedianInterval(nil, 0.95); z.N != 0 {
		t.Errorf("no samples: %+v", z)
	}
}

// The interval must contain the true median as often as it says: draw many
// skewed samples with a known median and count.
func TestMedianIntervalCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const trials = 4000
	for _, n := range []int{8, 20, 60} {
		hit := 0
		var cov float64
		for range trials {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = r.ExpFloat64() // median ln 2
			}
			iv := MedianInterval(xs, 0.95)
			cov = iv.Coverage
			if iv.Contains(math.Ln2) {
				hit++
			}
		}
		got := float64(hit) / trials
		if got < cov-0.02 {
			t.Errorf("n=%d: the interval held the median in %.3f of draws, claims %.3f", n, got, cov)
		}
	}
}
