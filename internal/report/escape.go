package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Everything a report shows that came from a result file (path, host and
// scenario names, disk models, warnings, notes) is text a hostile or broken
// file controls. Each output format escapes it in its own way, in the
// functions below; a figure meshbench formats itself needs none of it.

// unsafeRune reports whether r must not reach an output as it is: control
// characters (C0 and DEL, and C1, since U+009B is a one-character CSI to
// some terminals; ESC starts every terminal escape sequence) and the
// bidirectional formatting characters that reorder how text is shown.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// termText makes text safe for a terminal: unsafe runes are written as Go
// escapes (\x1b, \n, \u202e) and bytes that are not UTF-8 as \xNN, so the
// reader sees what the file holds and the terminal interprets none of it.
func termText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TerminalText is termText for commands that print text from a result file
// outside a report (gate's outcomes).
func TerminalText(s string) string { return termText(s) }

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unsafeRune(r) {
			return true
		}
	}
	return false
}

// csvText makes a text cell safe to open in a spreadsheet (OWASP's CSV
// injection advice): a cell that starts with = + - @ or a tab or carriage
// return would be read as a formula, so it gets a leading single quote.
// encoding/csv quotes separators, quotes and line breaks but knows nothing
// of formulas. Control characters are escaped as for a terminal, where CSV
// is often read. Only text cells go through here: a negative figure that
// meshbench formats is a number, not a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return termText(s)
}

// jsonSafe escapes, in JSON that encoding/json wrote, the unsafe runes it
// leaves as they are (DEL, C1 controls, bidirectional formatting): inside a
// JSON string \uXXXX means the same character, and outside strings JSON
// has none of them, so the document reads back the same and prints safely.
func jsonSafe(b []byte) []byte {
	s := string(b)
	if !needsEscape(s) {
		return b
	}
	var out strings.Builder
	for _, r := range s {
		if unsafeRune(r) && r >= 0x7f {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return []byte(out.String())
}

// mdFence is a code fence longer than any run of backticks in text, so
// that the text cannot close it (CommonMark, "Fenced code blocks").
func mdFence(text string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}
