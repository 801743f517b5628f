package results

import (
	"fmt"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds shared by every recorder: 1 µs to 1 hour in nanoseconds,
// three significant digits (SPEC.md, "Measurement method").
const (
	HistMin    = int64(time.Microsecond)
	HistMax    = int64(time.Hour)
	HistDigits = 3
)

// NewHistogram returns an empty latency histogram with the shared bounds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistMin, HistMax, HistDigits)
}

// Summarize turns a histogram of nanoseconds into millisecond percentiles.
// An empty histogram gives all zeros and Count 0, which readers must treat as
// "no data", not as 0 ms.
func Summarize(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	ms := func(ns int64) float64 { return round3(float64(ns) / 1e6) }
	return Percentiles{
		Min:   ms(h.Min()),
		Mean:  round3(h.Mean() / 1e6),
		Stdev: round3(h.StdDev() / 1e6),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		P9999: ms(h.ValueAtQuantile(99.99)),
		Max:   ms(h.Max()),
		Count: h.TotalCount(),
	}
}

// Round3 keeps three decimals: microsecond resolution in millisecond
// figures. Every figure meshbench writes is rounded by it.
func Round3(v float64) float64 { return math.Round(v*1000) / 1000 }

var round3 = Round3

// EncodeHistogram gives HdrHistogram's compressed, base64 "HISTF..." form.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// DecodeHistogram reads what EncodeHistogram wrote.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return nil, fmt.Errorf("no histogram")
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// OverheadOf is p minus base at each compared percentile.
func OverheadOf(p, base Percentiles) *Overhead {
	return &Overhead{
		P50:  round3(p.P50 - base.P50),
		P90:  round3(p.P90 - base.P90),
		P99:  round3(p.P99 - base.P99),
		P999: round3(p.P999 - base.P999),
	}
}
