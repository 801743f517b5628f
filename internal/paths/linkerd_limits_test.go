package paths

import "testing"

func TestWithLoadLimits(t *testing.T) {
	got := withLoadLimits(map[string]string{"max_pending": "7"}, 2000)
	if got["max_connections"] != "2000" || got["max_pending"] != "7" {
		t.Errorf("raised %v: want max_connections 2000 and the scenario's max_pending kept", got)
	}
	if got := withLoadLimits(nil, 64); len(got) != 0 {
		t.Errorf("64 connections raised %v; the defaults already allow them", got)
	}
}
