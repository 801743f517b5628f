// Package errext maps errors to meshbench's exit codes (SPEC.md, "Exit codes").
//
// Code deep in the tree never exits: it returns an error, wrapped with %w as it
// travels up, and cmd/meshbench asks Code which exit status that error means.
// Errors made with BadInput are the user's to fix; their text is printed as is.
package errext

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Exit codes, fixed by SPEC.md.
const (
	OK           = 0
	Runtime      = 1
	BadInputExit = 2
	GateFailed   = 3
	Interrupted  = 130
)

// badInput marks an error as the user's: a flag, scenario or result file that
// cannot be used. Its message is meant to be printed verbatim on one line.
type badInput struct{ err error }

func (e *badInput) Error() string { return e.err.Error() }
func (e *badInput) Unwrap() error { return e.err }

// BadInputf returns an error that exits with code 2.
func BadInputf(format string, args ...any) error {
	return &badInput{fmt.Errorf(format, args...)}
}

// AsBadInput marks err as bad input (exit 2), keeping its message and chain.
func AsBadInput(err error) error {
	if err == nil {
		return nil
	}
	return &badInput{err}
}

// IsBadInput reports whether err, or anything it wraps, is bad input.
func IsBadInput(err error) bool {
	var b *badInput
	return errors.As(err, &b)
}

// ErrGateFailed is returned (wrapped) when a performance gate does not hold.
var ErrGateFailed = errors.New("gate failed")

// ErrInterrupted is returned (wrapped) when a signal stopped the work early.
var ErrInterrupted = errors.New("interrupted")

// Code returns the exit status for err.
func Code(err error) int {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return Interrupted
	case errors.Is(err, ErrGateFailed):
		return GateFailed
	case IsBadInput(err):
		return BadInputExit
	default:
		return Runtime
	}
}

// RegularFile refuses, as bad input, a path that exists but is not a
// regular file: a directory, or a FIFO or device, which would block the
// read until a writer came, past any Ctrl-C. A path that does not exist is
// left to the open that follows, whose error says so.
func RegularFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch t := fi.Mode().Type(); {
	case t&os.ModeDir != 0:
		what = "is a directory"
	case t&os.ModeNamedPipe != 0:
		what = "is a named pipe (FIFO), not a regular file"
	case t&os.ModeDevice != 0:
		what = "is a device, not a regular file"
	case t&os.ModeSocket != 0:
		what = "is a socket, not a regular file"
	}
	return BadInputf("%s %s", path, what)
}
