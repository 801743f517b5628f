package knob_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/knob"
)

// TestTypes: every type writes what it read in one canonical form, and
// refuses text outside its syntax or bounds with what it wants.
func TestTypes(t *testing.T) {
	t.Parallel()
	type parser func(string) (string, error)
	cases := []struct {
		name string
		p    parser
		good map[string]string // input → canonical
		bad  []string
		want string
	}{
		{"int", textOf(knob.Int(0, 100)), map[string]string{"0": "0", "100": "100", "+7": "7"},
			[]string{"", "-1", "101", "3 ", "1e2", "3;"}, "want a whole number from 0 to 100"},
		{"float", textOf(knob.Float(0, 1)), map[string]string{"0.5": "0.5", "1": "1", ".25": "0.25", "1e-1": "0.1"},
			[]string{"NaN", "Inf", "-0.1", "1.01", "x"}, "want a number from 0 to 1"},
		{"duration", textOf(knob.Duration(time.Microsecond, time.Hour)),
			map[string]string{"1m": "60s", "1.5s": "1500ms", "30us": "30us", "1h": "3600s"},
			[]string{"0s", "2h", "fast", "5", "1s # x"}, "want a duration from 1us to 3600s"},
		{"millis", textOf(knob.Millis(time.Millisecond, time.Minute)),
			map[string]string{"5s": "5s", "250ms": "250ms", "1.5s": "1500ms"},
			[]string{"1.5ms", "0s", "61s", "500us"}, "in whole milliseconds from 1ms to 60s"},
		{"one of", textOf(knob.OneOf("on", "off")), map[string]string{"on": "on"},
			[]string{"ON", "on ", "", "on\nserver evil"}, "want one of on, off"},
		{"list", textOf(knob.List("error", "timeout")), map[string]string{"error": "error", "timeout,error": "timeout,error"},
			[]string{"", "error,", "error, timeout", "error timeout", "http_500"}, "list of error, timeout"},
		{"or", textOf(knob.Or("auto", knob.Int(1, 10))), map[string]string{"auto": "auto", "+4": "4"},
			[]string{"Auto", "0", "11", "auto;"}, "want a whole number from 1 to 10, or auto"},
	}
	for _, c := range cases {
		for in, want := range c.good {
			if got, err := c.p(in); err != nil || got != want {
				t.Errorf("%s: %q → %q, %v; want %q", c.name, in, got, err, want)
			}
		}
		for _, in := range c.bad {
			if got, err := c.p(in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %q → %q, %v; want an error saying %q", c.name, in, got, err, c.want)
			}
		}
	}
}

// textOf turns a Type into text → canonical text.
func textOf[T any](t knob.Type[T]) func(string) (string, error) {
	return func(s string) (string, error) {
		v, err := t.Parse(s)
		if err != nil {
			return "", err
		}
		return t.Format(v), nil
	}
}

type config struct {
	Timeout time.Duration
	Rate    float64
	Mode    string
}

var fields = knob.NewTable("test setting",
	knob.Field("timeout", "how long", knob.Duration(time.Millisecond, time.Minute), func(c *config) *time.Duration { return &c.Timeout }),
	knob.Field("rate", "how often", knob.Float(0, 1), func(c *config) *float64 { return &c.Rate }),
	knob.Field("mode", "which way", knob.OneOf("a", "b"), func(c *config) *string { return &c.Mode }),
)

// TestFieldTable: a table over a struct sets typed fields, names unknown
// keys with the known ones, names key and value in a bad value's error,
// and checks values set by code.
func TestFieldTable(t *testing.T) {
	t.Parallel()
	c := config{Timeout: time.Second, Rate: 0.5, Mode: "a"}
	if err := fields.Apply(&c, map[string]string{"timeout": "1.5s", "mode": "b"}); err != nil {
		t.Fatal(err)
	}
	if c != (config{Timeout: 1500 * time.Millisecond, Rate: 0.5, Mode: "b"}) {
		t.Errorf("after Apply: %+v", c)
	}
	if got, want := fields.Values(&c), map[string]string{"timeout": "1500ms", "rate": "0.5", "mode": "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values = %v, want %v", got, want)
	}
	if fields.Get(&c, "rate") != "0.5" || fields.Usage("rate") != "how often" || fields.Get(&c, "nope") != "" {
		t.Errorf("Get/Usage: %q %q", fields.Get(&c, "rate"), fields.Usage("rate"))
	}
	err := fields.Set(&c, "speed", "1")
	if err == nil || err.Error() != `unknown test setting "speed" (known: mode, rate, timeout)` {
		t.Errorf("unknown key: %v", err)
	}
	err = fields.Apply(&c, map[string]string{"rate": "2", "timeout": "fast"})
	if err == nil || err.Error() != `test setting rate="2": want a number from 0 to 1` {
		t.Errorf("bad values, first in name order: %v", err)
	}
	c.Timeout = 0
	if err := fields.Check(&c); err == nil || err.Error() != "test setting timeout: 0s: want a duration from 1ms to 60s (e.g. 500ms, 5s)" {
		t.Errorf("Check of a value set by code: %v", err)
	}
}

var texts = knob.NewTable("proxy setting",
	knob.Text("retries", "3", "", knob.Int(0, 10)),
	knob.Text("timeout", "1m", "", knob.Millis(time.Millisecond, time.Hour)),
)

// TestTextTable: a text table keeps canonical text, defaults included.
func TestTextTable(t *testing.T) {
	t.Parallel()
	var v knob.Values
	if got := texts.Values(&v); !reflect.DeepEqual(got, map[string]string{"retries": "3", "timeout": "60s"}) {
		t.Errorf("defaults: %v", got)
	}
	if err := texts.Apply(&v, map[string]string{"timeout": "1500ms"}); err != nil {
		t.Fatal(err)
	}
	if got := texts.Values(&v); !reflect.DeepEqual(got, map[string]string{"retries": "3", "timeout": "1500ms"}) {
		t.Errorf("after Apply: %v", got)
	}
	if err := texts.Set(&v, "retries", "3\n  server evil"); err == nil || v["retries"] != "" {
		t.Errorf("config syntax in a value: %v, stored %q", err, v["retries"])
	}
}

func TestTablePanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"duplicate": func() {
			knob.NewTable("x", knob.Text("a", "1", "", knob.Int(0, 1)), knob.Text("a", "1", "", knob.Int(0, 1)))
		},
		"bad default": func() { knob.Text("a", "2", "", knob.Int(0, 1)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func ExampleTable_Set() {
	type proxy struct{ Retries int }
	table := knob.NewTable("proxy setting",
		knob.Field("retries", "retries per request", knob.Int(0, 5), func(p *proxy) *int { return &p.Retries }))
	var p proxy
	fmt.Println(table.Set(&p, "retries", "+2"), p.Retries)
	fmt.Println(table.Set(&p, "retries", "9"))
	fmt.Println(table.Set(&p, "retry", "1"))
	// Output:
	// <nil> 2
	// proxy setting retries="9": want a whole number from 0 to 5
	// unknown proxy setting "retry" (known: retries)
}
