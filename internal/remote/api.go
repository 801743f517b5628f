// Package remote runs a benchmark across two machines: `meshbench serve`
// (Server) starts the backend and the paths on its host and answers a
// control API over TLS, and `meshbench run --remote` drives the load from
// another host through a Site, the runner.Site that asks the server for
// everything the local site would do itself.
//
// The API is JSON over HTTPS with a certificate made when the server starts.
// The server writes a token and the certificate's SHA-256 fingerprint to a
// file (Credentials); the client sends the token as a bearer token and
// accepts only the certificate with that fingerprint, so neither side needs
// a certificate authority. A request without the token is refused before
// anything else happens.
//
// Several load agents may share one run (run --share I/N): each drives
// 1/N of the rate, and the server holds each measured window until all N
// agents reached it, so that their windows line up.
package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// maxBody bounds every request body: a scenario with its exec templates
// fits with room to spare.
const maxBody = 1 << 20

// Share is one load agent's part of a run: agent Index (from 1) of Count.
type Share struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Check refuses a share that names no agent.
func (s Share) Check() error {
	if s.Count < 1 || s.Index < 1 || s.Index > s.Count {
		return fmt.Errorf("share %d/%d: want I/N with 1 ≤ I ≤ N", s.Index, s.Count)
	}
	return nil
}

// sessionRequest opens a session, or joins the one another agent opened.
type sessionRequest struct {
	Scenario json.RawMessage `json:"scenario"`
	Agent    Share           `json:"agent"`
}

type sessionResponse struct {
	// BarrierTimeoutS is how long the server holds a window for the
	// agents that have not reached it.
	BarrierTimeoutS float64 `json:"barrier_timeout_s"`
}

// PathInfo is a path the server offers: its ports once started, or the
// port it will listen on when --path-ports fixed it.
type PathInfo struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Started bool   `json:"started"`
	// Ports are what the load goes to: the replicas for direct, the
	// proxy's listen port otherwise.
	Ports []int `json:"ports,omitempty"`
	// FixedPort is the port --path-ports set (for direct, the first replica's).
	FixedPort int `json:"fixed_port,omitempty"`
	// Settings are the started path's effective settings (paths.Instance).
	Settings map[string]string `json:"settings,omitempty"`
}

type startPathRequest struct {
	Spec scenario.PathSpec `json:"spec"`
}

type usageResponse struct {
	Usage *results.Proxy `json:"usage"`
}

// windowRequest is an agent at window N of its plan, on path Path.
type windowRequest struct {
	Agent int    `json:"agent"`
	Path  string `json:"path"`
}

type closeResponse struct {
	HostStats *results.HostStats `json:"host_stats,omitempty"`
}

type endRequest struct {
	Agent int `json:"agent"`
}

// errorBody is every error answer. BadInput says the client's scenario or
// flags are at fault (exit 2 on the client), not the server.
type errorBody struct {
	Error    string `json:"error"`
	BadInput bool   `json:"bad_input,omitempty"`
}

// apiError is an error with the status the server answers it with.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func errStatus(status int, format string, args ...any) error {
	return &apiError{status, fmt.Errorf(format, args...)}
}

// statusOf is the HTTP status an error is answered with.
func statusOf(err error) int {
	var ae *apiError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &ae):
		return ae.status
	case errext.IsBadInput(err):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
