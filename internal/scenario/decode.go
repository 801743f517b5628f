package scenario

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/errext"
)

// Load reads a scenario file on top of Default(). Every problem is bad input
// (exit 2) naming file:line:col.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, errext.BadInputf("scenario %s: %v", path, err)
	}
	return Parse(path, data)
}

// Parse decodes YAML scenario text on top of Default(); name is used in errors.
func Parse(name string, data []byte) (*Scenario, error) {
	sc := Default()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return sc, nil // an empty file is the default scenario
		}
		return nil, errext.BadInputf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d := decoder{file: name}
	if err := d.decode(root, reflect.ValueOf(sc).Elem()); err != nil {
		return nil, errext.AsBadInput(err)
	}
	return Normalize(sc), nil
}

type decoder struct{ file string }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", d.file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decode sets v from n, refusing unknown keys and values of the wrong kind.
func (d *decoder) decode(n *yaml.Node, v reflect.Value) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// Shorthands: a bare string path, a bare number rate.
	switch v.Addr().Interface().(type) {
	case *PathSpec:
		if n.Kind == yaml.ScalarNode {
			v.Set(reflect.ValueOf(PathSpec{Name: n.Value, Kind: n.Value}))
			return nil
		}
	case *Rate:
		if n.Kind == yaml.ScalarNode {
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				return d.errorf(n, "rate %q is not a number of requests/s", n.Value)
			}
			v.Set(reflect.ValueOf(Rate{Shape: ShapeConstant, RPS: f}))
			return nil
		}
	}
	if v.Addr().Type().Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return d.errorf(n, "want a single value, got a %s", kindName(n))
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return d.errorf(n, "%v", err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return d.errorf(n, "want a mapping (key: value), got a %s", kindName(n))
		}
		fields := map[string]int{}
		var names []string
		for i := 0; i < v.NumField(); i++ {
			tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = i
				names = append(names, tag)
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				return d.errorf(k, "unknown key %q (known: %s)", k.Value, strings.Join(names, ", "))
			}
			if seen[k.Value] {
				return d.errorf(k, "key %q given twice", k.Value)
			}
			seen[k.Value] = true
			f := v.Field(idx)
			if f.Kind() == reflect.Pointer {
				if f.IsNil() {
					f.Set(reflect.New(f.Type().Elem()))
				}
				f = f.Elem()
			}
			if err := d.decode(val, f); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, "want a list, got a %s", kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.decode(item, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.errorf(n, "want a mapping (key: value), got a %s", kindName(n))
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, ev); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		v.Set(m)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errorf(n, "want a single value, got a %s", kindName(n))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return d.errorf(n, "%q is not a whole number", n.Value)
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return d.errorf(n, "%q is not a number", n.Value)
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return d.errorf(n, "%q is not true or false", n.Value)
		}
		v.SetBool(b)
	default:
		return d.errorf(n, "cannot decode into %s", v.Type())
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "value"
	}
	return "node"
}
