// Package knob reads the named, typed settings that tune a proxy: the keys a
// scenario gives a haproxy, nginx or linkerd path, and the sidecar's flags.
//
// A setting's text is parsed into a value, checked against its bounds and
// written back in one canonical form, so what reaches a proxy's config file
// or a child's command line is always meshbench's own rendering of a number,
// a duration or a word from a list, never the text as given. A Table holds
// the settings of one consumer and gives every error the same shape: the
// unknown key with the known ones listed, or the key, its value and what
// the key wants.
package knob

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Setting is one key of a Table over the configuration type C.
type Setting[C any] struct {
	// Name is the key, as a scenario writes it.
	Name string
	// Usage is one line of help, for a flag or a listing.
	Usage string

	get   func(*C) string
	set   func(*C, string) error
	check func(*C) error
}

// Field is a setting stored in a field of C, which field returns.
func Field[C, T any](name, usage string, t Type[T], field func(*C) *T) Setting[C] {
	return Setting[C]{
		Name: name, Usage: usage,
		get: func(c *C) string { return t.format(*field(c)) },
		set: func(c *C, s string) error {
			v, err := t.Parse(s)
			if err == nil {
				*field(c) = v
			}
			return err
		},
		check: func(c *C) error { return t.Check(*field(c)) },
	}
}

// Values are the settings of a text table (see Text) by name: the canonical
// text of each one set. A nil Values holds only defaults.
type Values map[string]string

// Text is a setting kept as canonical text in Values, for consumers that
// paste settings into a config file. def is its default, in any form t
// accepts; a default t refuses is a programming error and panics.
func Text[T any](name, def, usage string, t Type[T]) Setting[Values] {
	v, err := t.Parse(def)
	if err != nil {
		panic(fmt.Sprintf("knob: default %s=%q: %v", name, def, err))
	}
	canonical := t.format(v)
	return Setting[Values]{
		Name: name, Usage: usage,
		get: func(vs *Values) string {
			if s, ok := (*vs)[name]; ok {
				return s
			}
			return canonical
		},
		set: func(vs *Values, s string) error {
			v, err := t.Parse(s)
			if err != nil {
				return err
			}
			if *vs == nil {
				*vs = Values{}
			}
			(*vs)[name] = t.format(v)
			return nil
		},
		// Only set writes into Values, and only text it made.
		check: func(*Values) error { return nil },
	}
}

// Table is the settings one consumer accepts.
type Table[C any] struct {
	what string
	rows map[string]Setting[C]
}

// NewTable makes a table. what names a key in errors ("sidecar setting",
// "haproxy setting"). Two rows of one name are a programming error and
// panic.
func NewTable[C any](what string, rows ...Setting[C]) *Table[C] {
	t := &Table[C]{what: what, rows: make(map[string]Setting[C], len(rows))}
	for _, r := range rows {
		if _, dup := t.rows[r.Name]; dup {
			panic("knob: two " + what + "s named " + r.Name)
		}
		t.rows[r.Name] = r
	}
	return t
}

// Names lists the keys, sorted.
func (t *Table[C]) Names() []string { return slices.Sorted(maps.Keys(t.rows)) }

// Usage is a key's line of help ("" for an unknown key).
func (t *Table[C]) Usage(name string) string { return t.rows[name].Usage }

// Get is a key's value in c, in its canonical text ("" for an unknown key).
func (t *Table[C]) Get(c *C, name string) string {
	if r, ok := t.rows[name]; ok {
		return r.get(c)
	}
	return ""
}

// Values is every key's canonical text in c.
func (t *Table[C]) Values(c *C) map[string]string {
	out := make(map[string]string, len(t.rows))
	for name, r := range t.rows {
		out[name] = r.get(c)
	}
	return out
}

// Set parses value into c's key name.
func (t *Table[C]) Set(c *C, name, value string) error {
	r, ok := t.rows[name]
	if !ok {
		return fmt.Errorf("unknown %s %q (known: %s)", t.what, name, strings.Join(t.Names(), ", "))
	}
	if err := r.set(c, value); err != nil {
		return fmt.Errorf("%s %s=%q: %w", t.what, name, value, err)
	}
	return nil
}

// Apply sets every key of m into c, in name order so that the first error
// is the same from run to run, then checks every key's value in c.
func (t *Table[C]) Apply(c *C, m map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := t.Set(c, k, m[k]); err != nil {
			return err
		}
	}
	return t.Check(c)
}

// Check checks every key's value in c against its bounds: values set by
// code rather than parsed, such as a configuration's defaults.
func (t *Table[C]) Check(c *C) error {
	for _, name := range t.Names() {
		if err := t.rows[name].check(c); err != nil {
			return fmt.Errorf("%s %s: %w", t.what, name, err)
		}
	}
	return nil
}
