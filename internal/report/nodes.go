package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

// NodeFormats are the names WriteNodes accepts.
var NodeFormats = []string{"table", "markdown"}

// IsHostFile reports whether data is `meshbench host --format json` output
// rather than a result file: its schema is HostSchema, or it has no schema
// and no paths but the host, host_stats and host_quality of a host file.
func IsHostFile(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	if s, ok := top["schema"]; ok {
		var schema string
		return json.Unmarshal(s, &schema) == nil && schema == HostSchema
	}
	_, paths := top["paths"]
	_, host := top["host"]
	_, stats := top["host_stats"]
	_, quality := top["host_quality"]
	return !paths && host && stats && quality
}

// DecodeHost reads one host file. Every problem is an error that names the
// field at fault; the caller adds the file's name.
func DecodeHost(data []byte) (*HostReport, error) {
	var h HostReport
	if err := json.Unmarshal(data, &h); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("field %q has the wrong type: %v", te.Field, te.Value)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	switch {
	case h.Schema != "" && h.Schema != HostSchema:
		return nil, fmt.Errorf("schema %q is not supported (want %q)", h.Schema, HostSchema)
	case h.HostStats == nil:
		return nil, errors.New("no host_stats: not the output of `meshbench host --format json`")
	case h.HostQuality == nil:
		return nil, errors.New("no host_quality: not the output of `meshbench host --format json`")
	case h.HostStats.DurationS < 0 || h.HostStats.Samples < 0:
		return nil, errors.New("host_stats: a negative duration or sample count")
	}
	return &h, nil
}

// WriteNodes renders several hosts' probes side by side, one row per host,
// to tell which one is noisy: the table or markdown (NodeFormats). names
// label the hosts in order (nil: their host names, made unique).
func WriteNodes(w io.Writer, hosts []*HostReport, names []string, format string) error {
	if len(hosts) == 0 {
		return errors.New("no host files to report")
	}
	if names != nil && len(names) != len(hosts) {
		return fmt.Errorf("%d names for %d host files", len(names), len(hosts))
	}
	hostnames := make([]string, len(hosts))
	started := make([]time.Time, len(hosts))
	for i, h := range hosts {
		hostnames[i], started[i] = h.Host.Hostname, h.StartedAt
	}
	labels := uniqueLabels(hostnames, started, names)
	g := nodeGrid(hosts, labels)
	noisy, details, notes := nodeFindings(hosts, labels)
	var b strings.Builder
	switch format {
	case "table", "":
		fmt.Fprintf(&b, "Hosts compared: %d\n\n", len(hosts))
		if err := renderText(&b, g); err != nil {
			return err
		}
		fmt.Fprintln(&b, nodeLegend)
		fmt.Fprintln(&b, "noisy: "+termText(noisy))
		writeList(&b, "warn and fail", details)
		writeList(&b, "notes", notes)
	case "markdown":
		fmt.Fprintf(&b, "# meshbench hosts: %d compared\n\n", len(hosts))
		fmt.Fprintf(&b, "**Noisy:** %s\n\n", mdText(noisy))
		if err := renderMarkdown(&b, g); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n%s.\n", capitalize(nodeLegend))
		for _, sec := range []struct {
			title string
			items []string
		}{{"Warn and fail", details}, {"Notes", notes}} {
			if len(sec.items) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n## %s\n\n", sec.title)
			for _, it := range sec.items {
				fmt.Fprintf(&b, "- %s\n", mdText(it))
			}
		}
	default:
		return errext.BadInputf("host files render as %s, not %q", strings.Join(NodeFormats, " or "), format)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const nodeLegend = "steal, iowait: share of CPU time over the window; psi: \"some\" pressure, share of wall time; " +
	"disk: the one with the longest average queue (aqu-sz); jitter: worst p99.9 of the sleep and busy loops, ms; " +
	"fsync: p99 of 2300-byte writes each made durable, ms; status: the host's worst verdict; noisy: the hosts with a verdict that warns or fails, the worst first"

// nodeGrid is the comparison: one row per host, its figures and verdicts.
func nodeGrid(hosts []*HostReport, labels []string) grid {
	g := grid{left: 3, textLast: true, header: []string{"host", "virtualization", "status", "window", "steal", "iowait",
		"psi cpu", "psi io", "psi mem", "disk", "jitter p99.9", "fsync p99", "warn and fail"}}
	for i, h := range hosts {
		sum := summarizeHost([]*results.HostStats{h.HostStats})
		psi := []string{"-", "-", "-"}
		if p := h.HostStats.PSI; p != nil {
			psi = []string{pct(p.CPUSomePct), pct(p.IOSomePct), pct(p.MemorySomePct)}
		}
		status, bad := verdictSummary(h.HostQuality.Verdicts)
		g.rows = append(g.rows, append(append([]string{labels[i], virtLabel(h.Host.Virtualization), status,
			num(h.HostStats.DurationS) + " s", stealCell(sum), iowaitCell(sum)}, psi...),
			diskCell(sum), jitterCell(h.HostQuality.Jitter), fsyncCell(h.HostQuality.Fsync), bad))
	}
	return g
}

func jitterCell(j *results.JitterProbe) string {
	switch {
	case j == nil:
		return "-"
	case j.Error != "" || j.Sleep.Samples+j.Busy.Samples == 0:
		return "not measured"
	}
	return ms(max(j.Sleep.P999Ms, j.Busy.P999Ms))
}

func fsyncCell(f *results.FsyncProbe) string {
	switch {
	case f == nil:
		return "-"
	case f.Error != "" || f.Ops == 0:
		return "not measured"
	}
	return ms(f.P99Ms)
}

// statusRank orders verdict statuses from best to worst.
var statusRank = map[string]int{"ok": 1, "unknown": 2, "warn": 3, "fail": 4}

// verdictSummary is the worst status among vs and the checks that warn or
// fail ("-" and "" when there are no verdicts).
func verdictSummary(vs []results.Verdict) (worst, bad string) {
	worst = "-"
	var names []string
	for _, v := range vs {
		if statusRank[v.Status] > statusRank[worst] {
			worst = v.Status
		}
		if v.Status == "warn" || v.Status == "fail" {
			names = append(names, v.Check+" "+v.Status)
		}
	}
	return worst, strings.Join(names, ", ")
}

// nodeFindings are the sentences under the table: which hosts warn or fail,
// each such verdict with its value, threshold and fix, and what could not be
// measured or does not compare.
func nodeFindings(hosts []*HostReport, labels []string) (noisy string, details, notes []string) {
	type finding struct {
		label        string
		fails, warns int
	}
	var found []finding
	windows := map[string]bool{}
	for i, h := range hosts {
		var fails, warns int
		for _, v := range h.HostQuality.Verdicts {
			switch v.Status {
			case "fail":
				fails++
			case "warn":
				warns++
			default:
				continue
			}
			d := fmt.Sprintf("%s: %s %s: %s (%s)", labels[i], v.Check, v.Status, v.Value, v.Threshold)
			if v.Fix != "" {
				d += "; " + v.Fix
			}
			details = append(details, d)
		}
		if fails+warns > 0 {
			found = append(found, finding{labels[i], fails, warns})
		}
		for _, e := range h.HostStats.Errors {
			notes = append(notes, labels[i]+": not measured: "+e)
		}
		windows[num(h.HostStats.DurationS)] = true
	}
	// The noisiest first: most failed checks, then most warnings.
	slices.SortStableFunc(found, func(a, b finding) int {
		return cmp.Or(cmp.Compare(b.fails, a.fails), cmp.Compare(b.warns, a.warns))
	})
	var named []string
	for _, f := range found {
		named = append(named, fmt.Sprintf("%s (%d fail, %d warn)", f.label, f.fails, f.warns))
	}
	noisy = strings.Join(named, ", ")
	if noisy == "" {
		noisy = fmt.Sprintf("none: no verdict of the %d hosts warns or fails", len(hosts))
	}
	if len(windows) > 1 {
		notes = append(notes, "the windows differ in length: a longer window has more chances to catch a noisy neighbour")
	}
	return noisy, details, notes
}
