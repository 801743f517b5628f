package gate

import (
	"encoding/xml"
	"io"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the outcomes as JUnit XML, one test case per rule and
// path, so CI systems show each gate as a test.
func WriteJUnit(w io.Writer, suite string, outcomes []Outcome) error {
	s := junitSuite{Name: suite, Tests: len(outcomes), Failures: Failed(outcomes)}
	for _, o := range outcomes {
		c := junitCase{Name: o.Path + ": " + o.Rule.Text, Classname: "meshbench.gate." + o.Path}
		if !o.Pass {
			c.Failure = &junitFailure{Message: o.String(), Text: o.String()}
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
