package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// Formats are the names Write accepts, in the order help texts list them.
var Formats = []string{"table", "markdown", "json", "csv", "hlog", "smp"}

// Options tune the views. The zero value is a report without charts.
type Options struct {
	// PlotsDir is where WritePlots put the SVG charts; when set, markdown
	// links them (relative to the report when the report is written beside
	// them, as given otherwise).
	PlotsDir string
}

// Write renders r in format to w. An unknown format is bad input (exit 2).
func Write(w io.Writer, r *Report, format string, o Options) error {
	var render func(io.Writer, *Report, Options) error
	switch format {
	case "table", "":
		render = writeTable
	case "markdown":
		render = writeMarkdown
	case "json":
		render = writeJSON
	case "csv":
		render = writeCSV
	case "hlog":
		render = writeHlog
	case "smp":
		render = writeSMP
	default:
		return errext.BadInputf("unknown report format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
	// Render into memory first, so that a failure never leaves half a
	// report on the writer.
	var buf bytes.Buffer
	if err := render(&buf, r, o); err != nil {
		return err
	}
	out := buf.Bytes()
	if format == "json" || format == "smp" {
		out = jsonSafe(out)
	}
	_, err := w.Write(out)
	return err
}

func writeJSON(w io.Writer, r *Report, _ Options) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// trimLines drops the trailing blanks tablewriter pads its last column with,
// so the output diffs cleanly and pastes well.
func trimLines(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		b.WriteString(strings.TrimRight(sc.Text(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// ms shows a latency in milliseconds with microsecond resolution, the
// resolution the result file keeps.
func ms(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// signedMs shows an overhead: its sign matters (a proxy can come out faster
// than direct within noise, and hiding that would mislead).
func signedMs(v float64) string {
	if v == 0 {
		return "0.000"
	}
	return fmt.Sprintf("%+.3f", v)
}

// num shows a figure with as many decimals as it has, up to three.
func num(v float64) string { return strconv.FormatFloat(round3(v), 'f', -1, 64) }

// one shows a derived figure (CPU per request, MB) whose third decimal
// would only be noise.
func one(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }

var round3 = results.Round3

func round2(v float64) float64 { return math.Round(v*100) / 100 }
