package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
)

// DefaultName is the file name a run gets: <hostname>-<UTC time>.json.
func DefaultName(hostname string, t time.Time) string {
	h := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, hostname)
	if h == "" {
		h = "host"
	}
	return h + "-" + t.UTC().Format("20060102T150405Z") + ".json"
}

// CheckDir makes sure dir exists (creating it) and that a file can be created
// in it, so a run fails before it starts rather than after it measured.
func CheckDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errext.BadInputf("--out %s: %v", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".meshbench-check-*")
	if err != nil {
		return errext.BadInputf("--out %s is not writable: %v", dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// Write stores f as JSON in dir under name, atomically: it writes a temp file
// in the same directory, syncs it and links it into place, so a reader never
// sees half a file and an existing file is never replaced. If name is taken,
// a numeric suffix is added. It returns the path written.
func Write(dir, name string, f *File) (string, error) {
	if f.Schema == "" {
		f.Schema = Schema
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode result: %w", err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".meshbench-*.json.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	base := strings.TrimSuffix(name, ".json")
	for i := 0; i < 1000; i++ {
		target := filepath.Join(dir, name)
		if i > 0 {
			target = filepath.Join(dir, fmt.Sprintf("%s-%d.json", base, i))
		}
		// os.Link fails when target exists: never overwrite a result.
		err := os.Link(tmp.Name(), target)
		if err == nil {
			return target, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free file name for %s in %s", name, dir)
}

// Read loads and checks one result file. Every problem is bad input (exit 2)
// and one line that names the file and, when one is at fault, the field.
func Read(path string) (*File, error) {
	// A FIFO or a device would block until a writer came, past any Ctrl-C.
	if err := errext.RegularFile(path); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, errext.BadInputf("%s: %v", path, unwrapPath(err))
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileBytes {
		return nil, errext.BadInputf("%s: %d bytes, more than the %d bytes a result file may have", path, fi.Size(), MaxFileBytes)
	}
	f, err := Decode(fh)
	if err != nil {
		return nil, errext.BadInputf("%s: %v", path, err)
	}
	return f, nil
}

// Decode parses a result file of at most MaxFileBytes and holds it to
// File.Check.
func Decode(r io.Reader) (*File, error) {
	lr := &io.LimitedReader{R: r, N: MaxFileBytes + 1}
	dec := json.NewDecoder(lr)
	var f File
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case lr.N <= 0:
			return nil, fmt.Errorf("more than the %d bytes a result file may have", MaxFileBytes)
		case errors.Is(err, io.EOF):
			return nil, errors.New("empty file, not a meshbench result")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errors.New("truncated JSON")
		case errors.As(err, &se):
			return nil, fmt.Errorf("not valid JSON (offset %d): %v", se.Offset, se)
		case errors.As(err, &te) && strings.HasPrefix(te.Value, "number"):
			return nil, fmt.Errorf("%s: %s does not fit a %s", te.Field, te.Value, te.Type)
		case errors.As(err, &te):
			return nil, fmt.Errorf("field %q has the wrong type: %v", te.Field, te.Value)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if lr.N <= 0 {
			return nil, fmt.Errorf("more than the %d bytes a result file may have", MaxFileBytes)
		}
		return nil, fmt.Errorf("more data after the result's JSON object (offset %d)", dec.InputOffset())
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	return &f, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// WriteFileAtomic writes data to path through a temp file in the same
// directory and a rename, so that a reader (a CI job, a browser refreshing a
// report) never sees half a file. Unlike Write it replaces an existing file:
// it is for reports, charts and JUnit files, not for results.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
