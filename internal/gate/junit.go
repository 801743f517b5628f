package gate

import (
	"encoding/xml"
	"io"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr"`
	Time       string      `xml:"time,attr"`
	Properties *junitProps `xml:"properties,omitempty"`
	Cases      []junitCase `xml:"testcase"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes the outcomes as JUnit XML, one test case per rule and
// path, so CI systems show each gate as a test: a failing outcome is a
// failure (its type the decision), an inconclusive one let through is
// skipped with the reason, and every case carries its line as output. The
// run health of each file is a suite property.
func WriteJUnit(w io.Writer, suite string, outcomes []Outcome, health ...Health) error {
	s := junitSuite{Name: suite, Tests: len(outcomes), Time: "0"}
	for _, h := range health {
		if s.Properties == nil {
			s.Properties = &junitProps{}
		}
		s.Properties.Props = append(s.Properties.Props, junitProp{Name: "health." + h.Role, Value: strings.TrimPrefix(h.String(), h.Role+": ")})
	}
	for _, o := range outcomes {
		line := o.String()
		c := junitCase{Name: o.Path + ": " + o.Rule.Text, Classname: "meshbench.gate." + o.Path, Time: "0", SystemOut: line}
		switch {
		case o.Allowed:
			c.Skipped = &junitSkipped{Message: line}
			s.Skipped++
		case !o.Pass:
			c.Failure = &junitFailure{Message: line, Type: string(o.Decision), Text: line}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	doc := junitSuites{Name: suite, Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Time: "0", Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
