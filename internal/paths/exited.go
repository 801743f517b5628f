package paths

import (
	"fmt"

	"github.com/meshbench/meshbench/internal/proc"
)

// Exiter is a started path whose processes can end on their own (a proxy
// that crashed, or was killed by someone else): Exited says so, and why.
// direct and remote paths have no processes of their own here and do not
// implement it.
type Exiter interface {
	// Exited is nil while every process of the path runs, else which one
	// ended and how.
	Exited() error
}

// exited is the first of ps that has ended, as an error.
func exited(ps ...*proc.Process) error {
	for _, p := range ps {
		if p == nil {
			continue
		}
		select {
		case <-p.Done():
			how := "exited"
			if err := p.Err(); err != nil {
				how = err.Error()
			}
			return fmt.Errorf("%s (pid %d) ended during the run: %s", p.Name(), p.Pid(), how)
		default:
		}
	}
	return nil
}

func (h *haproxy) Exited() error   { return exited(h.p) }
func (n *nginx) Exited() error     { return exited(n.p) }
func (e *execProxy) Exited() error { return exited(e.p) }

func (l *linkerd) Exited() error {
	ps := make([]*proc.Process, 0, len(l.sidecars))
	for _, c := range l.sidecars {
		ps = append(ps, c.p)
	}
	return exited(ps...)
}
