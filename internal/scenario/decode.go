package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/errext"
)

// Load reads a scenario file on top of Default() and validates it (see
// Parse). Every problem is bad input (exit 2) naming the file.
func Load(path string) (*Scenario, error) {
	// A FIFO or a device would block the open or the read until a writer
	// came, past any Ctrl-C: only regular files are read.
	if err := errext.RegularFile(path); err != nil {
		return nil, fmt.Errorf("scenario %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, errext.BadInputf("scenario %s: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	// One byte past the bound tells a file at the bound from a longer one
	// without reading the rest of it.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, errext.BadInputf("scenario %s: %v", path, unwrapPathError(err))
	}
	return Parse(path, data)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes YAML scenario text on top of Default(), normalises it and
// validates it; name is used in errors. A key the text leaves out keeps its
// default; a key it sets, even to 0, means what it says.
//
// The text is one YAML document of at most MaxFileBytes. Unknown keys, keys
// given twice, values of the wrong type and values Validate refuses are bad
// input (exit 2) naming name:line:column.
func Parse(name string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileBytes {
		return nil, errext.BadInputf("%s: a scenario file may hold at most %d bytes (MaxFileBytes)", name, MaxFileBytes)
	}
	// The tree, parsed once more, gives errors their columns.
	root := parseTree(data)
	if root != nil {
		if err := checkTree(root, reflect.TypeFor[Scenario]()); err != nil {
			return nil, errext.AsBadInput(decodeError(name, root, err))
		}
	}
	sc := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(sc); err != nil && !errors.Is(err, io.EOF) {
		return nil, errext.AsBadInput(decodeError(name, root, err))
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, errext.AsBadInput(decodeError(name, root, err))
		}
		return nil, errext.BadInputf("%s:%d:%d: a second YAML document; a scenario file holds one", name, next.Line, next.Column)
	}
	sc = Normalize(sc)
	if err := sc.check(); err != nil {
		return nil, errext.AsBadInput(validationError(name, root, err))
	}
	return sc, nil
}

// posError is a decoding error that knows where in the file it is.
type posError struct {
	line, col int
	msg       string
}

func (e *posError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

func errorAt(n *yaml.Node, format string, args ...any) error {
	return &posError{line: n.Line, col: n.Column, msg: fmt.Sprintf(format, args...)}
}

// UnmarshalYAML reads a path: a bare string is a path of that kind and
// name ("haproxy"); a mapping sets the fields it names.
func (p *PathSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*p = PathSpec{Name: n.Value, Kind: n.Value}
		return nil
	}
	type plain PathSpec
	return n.Decode((*plain)(p))
}

// UnmarshalYAML reads a rate: a bare number is a constant rate in
// requests/s; a mapping sets the fields it names.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var rps float64
		if err := n.Decode(&rps); err != nil {
			return errorAt(n, "rate %q is not a number of requests/s", n.Value)
		}
		*r = Rate{Shape: ShapeConstant, RPS: rps}
		return nil
	}
	type plain Rate
	return n.Decode((*plain)(r))
}

// UnmarshalYAML reads Go's duration syntax ("250ms", "1m30s").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errorAt(n, "want a duration (e.g. 500ms, 10s, 1m), got %s", describeNode(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return errorAt(n, "%q is not a duration (e.g. 500ms, 10s, 1m)", n.Value)
	}
	*d = Duration(v)
	return nil
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}
