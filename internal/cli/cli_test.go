package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// runCLI runs one meshbench command line in-process and returns what it
// printed and its exit code.
func runCLI(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(ctx, World{
		Args: args, Stdout: &out, Stderr: &errb,
		Now:  func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) },
		Self: testBinary(t),
	})
	return out.String(), errb.String(), code
}

// oneLine checks that an error was printed as a single line (no stack trace)
// starting with "meshbench:" and holding want.
func oneLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "meshbench: ") || !strings.Contains(lines[0], want) {
		t.Errorf("stderr = %q, want one line with %q", stderr, want)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "Run 'meshbench --help'") {
			t.Errorf("extra stderr line %q", l)
		}
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"run", "--rats", "5"}, {"gate"}} {
		_, stderr, code := runCLI(t, context.Background(), args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		oneLine(t, stderr, "")
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, context.Background(), "version")
	if code != 0 || !strings.HasPrefix(out, "meshbench ") {
		t.Errorf("version: %d %q", code, out)
	}
}
