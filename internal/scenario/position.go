package scenario

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 names the line of a problem but not its column, and speaks of Go
// types. The functions here find the node a message is about, so that every
// error names file:line:column, and say what the key wanted in the file's
// own words.

// checkTree walks the document against the Scenario type before yaml.v3
// decodes it, for what yaml.v3 lets through or reports without a column:
// it refuses unknown keys, naming the keys that exist, and a fraction where
// a whole number goes (yaml.v3 would truncate 2.5 to 2). It descends into
// the mapping forms of the shorthand types too, below which yaml.v3 does not
// apply KnownFields. The decoder keeps KnownFields on all the same.
func checkTree(n *yaml.Node, t reflect.Type) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := checkTree(c, t); err != nil {
				return err
			}
		}
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.ScalarNode && reflect.PointerTo(t).Implements(unmarshalerType):
		return nil // a shorthand or a duration: the type reads it itself
	case n.Kind == yaml.ScalarNode && t.Kind() == reflect.Int:
		if tag := n.ShortTag(); tag != "!!int" && tag != "!!null" {
			return errorAt(n, "want a whole number, got %s", describeNode(n))
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				if err := checkTree(val, t); err != nil {
					return err
				}
				continue
			}
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				return errorAt(k, "unknown key %q (known: %s)", k.Value, strings.Join(keysOf(t), ", "))
			}
			if err := checkTree(val, f.Type); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode) || (t.Kind() == reflect.Map && n.Kind == yaml.MappingNode):
		for i, item := range n.Content {
			if t.Kind() == reflect.Map && i%2 == 0 {
				continue // a map's keys are strings
			}
			if err := checkTree(item, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil // a type mismatch is yaml.v3's to report
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

// structTypes maps the Go names yaml.v3 uses in its messages
// ("scenario.Backend") to the types, for listing their keys.
var structTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || m[t.String()] != nil {
			return
		}
		m[t.String()] = t
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[Scenario]())
	return m
}()

var (
	unknownRE  = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	setTwiceRE = regexp.MustCompile(`^line (\d+): field (.+) already set in type \S+$`)
	dupKeyRE   = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	typeRE     = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	lineRE     = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeError turns an error of the YAML decoder into one line naming
// name:line:column (or name:line where the parser gives no more).
func decodeError(name string, root *yaml.Node, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%v", name, pe)
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return fmt.Errorf("%s:%v", name, typeError(root, te.Errors[0]))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// typeError renders one of yaml.v3's type errors at its node.
func typeError(root *yaml.Node, msg string) error {
	line := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		k := findNode(root, line(m[1]), true, func(n *yaml.Node) bool { return n.Value == m[2] })
		known := ""
		if t, ok := structTypes[m[3]]; ok {
			known = " (known: " + strings.Join(keysOf(t), ", ") + ")"
		}
		return errorAt(k, "unknown key %q%s", m[2], known)
	}
	if m := dupKeyRE.FindStringSubmatch(msg); m != nil {
		key, _ := strconv.Unquote(m[2])
		k := findNode(root, line(m[1]), true, func(n *yaml.Node) bool { return n.Value == key })
		return errorAt(k, "key %q given twice (first at line %s)", key, m[3])
	}
	if m := setTwiceRE.FindStringSubmatch(msg); m != nil {
		k := findNode(root, line(m[1]), true, func(n *yaml.Node) bool { return n.Value == m[2] })
		return errorAt(k, "key %q given twice", m[2])
	}
	if m := typeRE.FindStringSubmatch(msg); m != nil {
		tag, shown := "!!"+m[2], m[3]
		n := findNode(root, line(m[1]), false, func(n *yaml.Node) bool {
			if n.ShortTag() != tag {
				return false
			}
			if prefix, cut := strings.CutSuffix(shown, "..."); cut {
				return strings.HasPrefix(n.Value, prefix)
			}
			return n.Value == shown
		})
		return errorAt(n, "want %s, got %s", wanted(m[4]), describeNode(n))
	}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return &posError{line: line(m[1]), col: 1, msg: m[2]}
	}
	return &posError{line: 1, col: 1, msg: msg}
}

// wanted says in the file's terms what a Go type takes.
func wanted(goType string) string {
	switch goType {
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a single value"
	}
	if strings.HasPrefix(goType, "[]") {
		return "a list"
	}
	return "a mapping (key: value)"
}

// parseTree parses data again, for positions; nil when it holds no document.
func parseTree(data []byte) *yaml.Node {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || root.Kind == 0 {
		return nil
	}
	return &root
}

// findNode returns the last node on line that match accepts: among mapping
// keys when keys is set, else among all nodes. When no node matches it
// returns a stand-in at the line's start, so an error still names the line.
func findNode(root *yaml.Node, line int, keys bool, match func(*yaml.Node) bool) *yaml.Node {
	var found *yaml.Node
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		if n.Line == line && isKey == keys && match(n) {
			found = n
		}
		for i, c := range n.Content {
			walk(c, n.Kind == yaml.MappingNode && i%2 == 0)
		}
	}
	if root != nil {
		walk(root, false)
	}
	if found == nil {
		return &yaml.Node{Line: line, Column: 1}
	}
	return found
}

// validationError places a Validate error at the node that set the field
// it is about, or at the nearest enclosing node the file has. An error about
// a field the file does not mention names only the file.
func validationError(name string, root *yaml.Node, err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) || root == nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	n := locate(top, splitField(fe.field))
	if n == top {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s:%d:%d: %w", name, n.Line, n.Column, err)
}

// splitField splits "faults[1].at" into "faults", "[1]", "at".
func splitField(f string) []string {
	return strings.Split(strings.ReplaceAll(f, "[", ".["), ".")
}

// locate follows field segments down from n as far as the file goes. A
// mapping key may itself hold dots (a header name), so the longest run of
// segments that names a key is taken.
func locate(n *yaml.Node, segs []string) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if len(segs) == 0 {
		return n
	}
	switch n.Kind {
	case yaml.MappingNode:
		for j := len(segs); j >= 1; j-- {
			key := strings.Join(segs[:j], ".")
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					return locate(n.Content[i+1], segs[j:])
				}
			}
		}
	case yaml.SequenceNode:
		if idx, ok := strings.CutPrefix(segs[0], "["); ok {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			if err == nil && i >= 0 && i < len(n.Content) {
				return locate(n.Content[i], segs[1:])
			}
		}
	}
	return n
}
