package scenario

import (
	"maps"
	"slices"
)

// Normalize returns a copy of s with the values a scenario may leave
// implicit made explicit: a path's kind from its name and its name from its
// kind, an empty rate shape as constant, an empty placement as auto, and
// empty lists and maps as nil, so that a scenario and the copy kept in a
// result file compare equal. s itself is not changed.
func Normalize(s *Scenario) *Scenario {
	c := s.Clone()
	for i := range c.Paths {
		p := &c.Paths[i]
		if p.Kind == "" {
			p.Kind = p.Name
		}
		if p.Name == "" {
			p.Name = p.Kind
		}
		if len(p.Settings) == 0 {
			p.Settings = nil
		}
	}
	if c.Rate.Shape == "" {
		c.Rate.Shape = ShapeConstant
	}
	if c.Placement == "" {
		c.Placement = PlacementAuto
	}
	if len(c.Request.Headers) == 0 {
		c.Request.Headers = nil
	}
	c.Sweep = nilIfEmpty(c.Sweep)
	c.Faults = nilIfEmpty(c.Faults)
	c.Gates = nilIfEmpty(c.Gates)
	c.HostStats.Probes = nilIfEmpty(c.HostStats.Probes)
	return c
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Clone returns a deep copy of s: changing the copy's lists, maps or
// pointed-to values leaves s as it was.
func (s *Scenario) Clone() *Scenario {
	c := *s
	c.Paths = slices.Clone(s.Paths)
	for i := range c.Paths {
		p := &c.Paths[i]
		p.Settings = maps.Clone(p.Settings)
		if p.Exec != nil {
			e := *p.Exec
			e.Command = slices.Clone(e.Command)
			p.Exec = &e
		}
	}
	c.Sweep = slices.Clone(s.Sweep)
	c.Request.Headers = maps.Clone(s.Request.Headers)
	c.HostStats.Probes = slices.Clone(s.HostStats.Probes)
	c.Faults = slices.Clone(s.Faults)
	for i := range c.Faults {
		f := &c.Faults[i]
		if f.ErrorRate != nil {
			v := *f.ErrorRate
			f.ErrorRate = &v
		}
		if f.Delay != nil {
			v := *f.Delay
			f.Delay = &v
		}
	}
	c.Gates = slices.Clone(s.Gates)
	return &c
}
