package sidecar

import (
	"net/http"
	"sync/atomic"
)

// admin serves the sidecar's loopback admin endpoints, as linkerd2-proxy's
// admin port (4191) does: /metrics in the Prometheus text format, /ready
// once the proxy listener accepts connections, /live while the process is
// up.
type admin struct {
	p     *Proxy
	ready *atomic.Bool
}

func (a admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		a.p.WriteMetrics(w)
	case "/ready":
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	case "/live":
		w.Write([]byte("live\n"))
	default:
		http.NotFound(w, r)
	}
}
