package results

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds a result file keeps to. Read refuses a file beyond any of them,
// naming the field, so that a hand-edited, truncated or hostile file cannot
// exhaust memory or break a table further down.
const (
	// MaxFileBytes bounds a result file: a day-long run of a dozen paths
	// with three trials and per-second timelines stays well under it.
	MaxFileBytes = 256 << 20
	// MaxPathEntries bounds len(paths): paths × trials × sweep steps.
	MaxPathEntries = 10000
	// MaxListItems bounds any other list (timeline, disks, warnings): a
	// timeline has one entry per second, so this is eleven days.
	MaxListItems = 1 << 20
	// MaxNameBytes bounds a name: a path, a host, a disk, an error class.
	MaxNameBytes = 256
	// MaxTextBytes bounds free text: warnings, notes, evidence, values.
	MaxTextBytes = 4096
	// MaxFigure bounds the magnitude of any number that is not a
	// latency: no rate, duration, share or count of a benchmark comes
	// near it, and it keeps sums and differences of figures finite.
	MaxFigure = 1e12
)

// MaxLatencyMs is the largest latency a result can hold: the top of the
// histograms' range (HistMax), plus their three-digit rounding.
var MaxLatencyMs = float64(HistMax) / 1e6 * 1.001

// nameFields are the JSON fields held to MaxNameBytes; other strings are
// free text, held to MaxTextBytes, except the histograms (bounded by the
// file size) and the raw scenario.
var nameFields = map[string]bool{"name": true, "kind": true, "hostname": true, "container": true, "hypervisor": true,
	"version": true, "check": true, "status": true}

var (
	timeType     = reflect.TypeOf(time.Time{})
	percentiles  = reflect.TypeOf(Percentiles{})
	overheadType = reflect.TypeOf(Overhead{})
)

// Check holds f to the bounds above: a known schema, every count and size
// non-negative, every number finite and of a sane magnitude, latencies
// within the histograms' range, names and texts of bounded length and
// valid UTF-8, lists of bounded length. The error names the first field
// that fails, as a JSON path (paths[2].latency_ms.p99).
//
// The walk is over every field, so fields added to File are checked too:
// every integer in a result is a count, a size or an index, and none may be
// negative.
func (f *File) Check() error {
	if f.Schema != Schema {
		if f.Schema == "" {
			return fmt.Errorf("no \"schema\" field: not a meshbench result file")
		}
		return fmt.Errorf("schema %q is not supported (want %q)", f.Schema, Schema)
	}
	if n := len(f.Paths); n > MaxPathEntries {
		return fmt.Errorf("paths: %d entries, more than the %d a result may hold", n, MaxPathEntries)
	}
	for i, p := range f.Paths {
		if p.Name == "" {
			return fmt.Errorf("paths[%d] has no name", i)
		}
	}
	return checkValue(reflect.ValueOf(f).Elem(), "", "")
}

// checkValue checks v, found at path under the JSON name field.
func checkValue(v reflect.Value, path, field string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkValue(v.Elem(), path, field)
	case reflect.Struct:
		if v.Type() == timeType {
			return nil
		}
		return checkStruct(v, path)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // raw JSON (the scenario), bounded by the file size
		}
		if v.Len() > MaxListItems {
			return fmt.Errorf("%s: %d entries, more than %d", path, v.Len(), MaxListItems)
		}
		for i := range v.Len() {
			if err := checkValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), field); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Len() > MaxListItems {
			return fmt.Errorf("%s: %d entries, more than %d", path, v.Len(), MaxListItems)
		}
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key().String()
			if err := checkString(k, path+" key", true); err != nil {
				return err
			}
			if err := checkValue(iter.Value(), path+"."+k, field); err != nil {
				return err
			}
		}
	case reflect.String:
		if field == "histogram" || field == "service_histogram" {
			return nil
		}
		return checkString(v.String(), path, nameFields[field])
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() < 0 {
			return fmt.Errorf("%s: %d is negative, and it is a count or a size", path, v.Int())
		}
	case reflect.Float32, reflect.Float64:
		return checkFigure(v.Float(), path, -MaxFigure, MaxFigure, "")
	}
	return nil
}

func checkStruct(v reflect.Value, path string) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := jsonName(sf)
		if name == "-" {
			continue
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		fv := v.Field(i)
		if sf.Anonymous {
			p = path // an embedded struct's fields are the outer object's
		}
		var err error
		switch {
		case t == percentiles && fv.Kind() == reflect.Float64:
			err = checkFigure(fv.Float(), p, 0, MaxLatencyMs, "ms, the top of the histograms' 1 h range")
		case t == overheadType && fv.Kind() == reflect.Float64:
			err = checkFigure(fv.Float(), p, -MaxLatencyMs, MaxLatencyMs, "ms, the top of the histograms' 1 h range")
		default:
			err = checkValue(fv, p, name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func jsonName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
	if name == "" {
		return sf.Name
	}
	return name
}

// checkFigure holds x to [lo, hi]; unit, when given, says what hi is.
func checkFigure(x float64, path string, lo, hi float64, unit string) error {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("%s: %v is not a number a result can hold", path, x)
	}
	if x >= lo && x <= hi {
		return nil
	}
	bound := strconv.FormatFloat(hi, 'g', -1, 64)
	if hi < 1e9 {
		bound = strconv.FormatFloat(hi, 'f', 0, 64)
	}
	if unit != "" {
		bound += " " + unit
	}
	if x < lo && lo == 0 {
		return fmt.Errorf("%s: %g is negative", path, x)
	}
	if x < lo {
		return fmt.Errorf("%s: %g is below -%s", path, x, bound)
	}
	return fmt.Errorf("%s: %g is beyond %s", path, x, bound)
}

func checkString(s, path string, name bool) error {
	limit, what := MaxTextBytes, "text"
	if name {
		limit, what = MaxNameBytes, "name"
	}
	if len(s) > limit {
		return fmt.Errorf("%s: a %s of %d bytes, more than %d", path, what, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", path)
	}
	return nil
}
