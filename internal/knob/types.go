package knob

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Type is how a setting's text becomes a value of T and back: the syntax
// it accepts, the bounds it checks and the one form it writes.
type Type[T any] struct {
	parse  func(string) (T, bool)
	inside func(T) bool
	format func(T) string
	// want says what the setting accepts, as the end of an error.
	want string
}

// Parse reads s and checks the value's bounds. Its error says what the
// setting wants, whatever was wrong.
func (t Type[T]) Parse(s string) (T, error) {
	v, ok := t.parse(s)
	if !ok || !t.inside(v) {
		var zero T
		return zero, errors.New(t.want)
	}
	return v, nil
}

// Check checks a value set by code against the bounds.
func (t Type[T]) Check(v T) error {
	if !t.inside(v) {
		return errors.New(t.format(v) + ": " + t.want)
	}
	return nil
}

// Format writes v in the canonical form.
func (t Type[T]) Format(v T) string { return t.format(v) }

// Int is a whole number from lo to hi, written in decimal.
func Int(lo, hi int) Type[int] {
	return Type[int]{
		parse:  func(s string) (int, bool) { n, err := strconv.Atoi(s); return n, err == nil },
		inside: func(n int) bool { return n >= lo && n <= hi },
		format: strconv.Itoa,
		want:   "want a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi),
	}
}

// Float is a finite number from lo to hi, written in the shortest form
// that reads back as the same number.
func Float(lo, hi float64) Type[float64] {
	format := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return Type[float64]{
		parse: func(s string) (float64, bool) {
			x, err := strconv.ParseFloat(s, 64)
			return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
		},
		// NaN fails both comparisons, so a NaN set by code is refused too.
		inside: func(x float64) bool { return x >= lo && x <= hi },
		format: format,
		want:   "want a number from " + format(lo) + " to " + format(hi),
	}
}

// Duration is a Go duration ("250ms", "5s") from lo to hi.
func Duration(lo, hi time.Duration) Type[time.Duration] {
	return durationType(lo, hi, 1, "want a duration from "+FormatDuration(lo)+" to "+FormatDuration(hi)+" (e.g. 500ms, 5s)")
}

// Millis is a Duration in whole milliseconds, for proxies whose configs
// take nothing finer (haproxy, nginx).
func Millis(lo, hi time.Duration) Type[time.Duration] {
	return durationType(lo, hi, time.Millisecond,
		"want a duration in whole milliseconds from "+FormatDuration(lo)+" to "+FormatDuration(hi)+" (e.g. 500ms, 5s)")
}

func durationType(lo, hi, step time.Duration, want string) Type[time.Duration] {
	return Type[time.Duration]{
		parse: func(s string) (time.Duration, bool) {
			d, err := time.ParseDuration(s)
			return d, err == nil
		},
		inside: func(d time.Duration) bool { return d >= lo && d <= hi && d%step == 0 },
		format: FormatDuration,
		want:   want,
	}
}

// FormatDuration writes d as a whole number of the largest of s, ms, us
// and ns that divides it ("5s", "250ms", "0s"): a form Go, haproxy and
// nginx all read, for the units each of them takes.
func FormatDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// OneOf is one of words, exactly.
func OneOf(words ...string) Type[string] {
	return Type[string]{
		parse:  func(s string) (string, bool) { return s, true },
		inside: func(s string) bool { return slices.Contains(words, s) },
		format: func(s string) string { return s },
		want:   "want one of " + strings.Join(words, ", "),
	}
}

// List is a comma-separated list of one or more of words, written
// comma-separated without spaces.
func List(words ...string) Type[string] {
	return Type[string]{
		parse: func(s string) (string, bool) { return s, true },
		inside: func(s string) bool {
			for _, w := range strings.Split(s, ",") {
				if !slices.Contains(words, w) {
					return false
				}
			}
			return true
		},
		format: func(s string) string { return s },
		want:   "want a comma-separated list of " + strings.Join(words, ", "),
	}
}

// Or accepts word besides what t accepts, and keeps the value as text.
func Or[T any](word string, t Type[T]) Type[string] {
	return Type[string]{
		parse: func(s string) (string, bool) {
			if s == word {
				return s, true
			}
			v, err := t.Parse(s)
			return t.format(v), err == nil
		},
		inside: func(s string) bool {
			_, err := t.Parse(s)
			return s == word || err == nil
		},
		format: func(s string) string { return s },
		want:   t.want + ", or " + word,
	}
}
