// Package scenarios holds the scenario files that ship with meshbench and
// the JSON Schema they follow. default.yaml is compiled into the binary and
// runs when `meshbench run` is given no file; the others are examples to
// copy. Each file names schema.json on its first line, so that editors with
// a YAML language server complete and check its keys.
package scenarios

import "embed"

// Files holds every shipped scenario, by file name.
//
//go:embed *.yaml
var Files embed.FS

// DefaultName is the file `meshbench run` uses without an argument.
const DefaultName = "default.yaml"

// Schema is the JSON Schema (draft 2020-12) of scenario files.
//
//go:embed schema.json
var Schema []byte
