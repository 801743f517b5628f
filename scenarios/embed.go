// Package scenarios holds the scenario files that ship with meshbench.
// default.yaml is compiled into the binary and runs when `meshbench run` is
// given no file; the others are examples to copy.
package scenarios

import "embed"

// Files holds every shipped scenario, by file name.
//
//go:embed *.yaml
var Files embed.FS

// DefaultName is the file `meshbench run` uses without an argument.
const DefaultName = "default.yaml"
