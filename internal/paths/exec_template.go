package paths

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"text/template"
	"text/template/parse"
)

// An exec template is scenario text that meshbench executes, so its cost is
// bounded before and while it runs. Its output is cut at a bound, so that a
// loop cannot fill memory; and a template cannot loop long without writing:
// a range may not run over a number given in the template, ranges do not
// nest, and there is no template call (hence no recursion). What is left to
// range over is meshbench's own data: the replicas, or at most the listen
// port's 65535 iterations.

// maxRenderedConfig bounds a rendered config file: configs are kilobytes,
// and a bound in megabytes keeps a runaway template's memory flat.
const maxRenderedConfig = 1 << 20

// maxRenderedArg bounds one rendered command argument: Linux refuses longer
// arguments to exec anyway (MAX_ARG_STRLEN, 128 KiB).
const maxRenderedArg = 128 << 10

// parseTemplate parses one exec template and checks its shape.
func parseTemplate(name, text string) (*template.Template, error) {
	tt, err := template.New(name).Funcs(execFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(tt.Templates()) > 1 {
		return nil, fmt.Errorf("%s: define and block are not supported; write the text inline", name)
	}
	if tt.Tree == nil || tt.Root == nil {
		return tt, nil // empty text
	}
	if err := checkNodes(tt.Root, 0); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return tt, nil
}

// checkNodes walks a template's tree; ranges is how many ranges enclose n.
func checkNodes(n parse.Node, ranges int) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c, ranges); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, ranges)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, ranges)
	case *parse.RangeNode:
		if ranges > 0 {
			return errors.New("a range inside a range is not supported")
		}
		for _, c := range n.Pipe.Cmds {
			for _, a := range c.Args {
				if num, ok := a.(*parse.NumberNode); ok {
					return fmt.Errorf("range over the number %s: range over .Upstreams instead", num.Text)
				}
			}
		}
		return checkBranch(&n.BranchNode, ranges+1)
	case *parse.TemplateNode:
		return fmt.Errorf("template %q: template calls are not supported", n.Name)
	}
	return nil
}

func checkBranch(b *parse.BranchNode, ranges int) error {
	if err := checkNodes(b.List, ranges); err != nil {
		return err
	}
	return checkNodes(b.ElseList, ranges)
}

// execute renders tt with d, failing as soon as the output passes bound.
func execute(tt *template.Template, d ExecData, bound int) ([]byte, error) {
	w := &boundedBuffer{bound: bound}
	if err := tt.Execute(w, d); err != nil {
		var over *overBound
		if errors.As(err, &over) {
			return nil, fmt.Errorf("%s renders to more than %s, the bound on a rendered %s", tt.Name(), sizeText(bound), what(tt.Name()))
		}
		return nil, err
	}
	return w.buf.Bytes(), nil
}

func what(name string) string {
	if name == "config" {
		return "config"
	}
	return "command argument"
}

func sizeText(n int) string {
	if n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + " MiB"
	}
	return strconv.Itoa(n>>10) + " KiB"
}

// boundedBuffer is a buffer that refuses to grow past bound.
type boundedBuffer struct {
	buf   bytes.Buffer
	bound int
}

type overBound struct{}

func (*overBound) Error() string { return "output bound reached" }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.bound {
		return 0, &overBound{}
	}
	return b.buf.Write(p)
}
