package sidecar

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// latencyBucketsMs are linkerd2-proxy's response_latency_ms buckets, so
// that dashboards built for Linkerd read these too.
var latencyBucketsMs = [...]float64{
	1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
	1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
}

// metrics are the proxy's own counters. All atomic: a request touches a
// few of them and never takes a lock for it.
type metrics struct {
	// byProto counts requests by [HTTP/1.x, HTTP/2][plain, TLS].
	byProto [2][2]atomic.Uint64
	// classes counts responses by status/100; 0 is an exchange that broke
	// off before a response was sent.
	classes [6]atomic.Uint64
	// buckets[i] counts latencies ≤ latencyBucketsMs[i]; the last one is +Inf.
	buckets   [len(latencyBucketsMs) + 1]atomic.Uint64
	latencyNs atomic.Int64
	restored  atomic.Uint64
	// open counts client connections (set by the server's ConnState).
	open, accepted atomic.Int64
	// pending counts requests in the proxy now; shed counts what the
	// sidecar refused itself, by reason (limits.go).
	pending atomic.Int64
	shed    [numShedReasons]atomic.Uint64
}

func (m *metrics) countRequest(r *http.Request) {
	proto, sec := 0, 0
	if r.ProtoMajor == 2 {
		proto = 1
	}
	if r.TLS != nil {
		sec = 1
	}
	m.byProto[proto][sec].Add(1)
}

func (m *metrics) countResponse(status int, ns int64) {
	c := status / 100
	if c < 0 || c > 5 {
		c = 0
	}
	m.classes[c].Add(1)
	ms := float64(ns) / 1e6
	i := 0
	for i < len(latencyBucketsMs) && ms > latencyBucketsMs[i] {
		i++
	}
	m.buckets[i].Add(1)
	m.latencyNs.Add(ns)
}

// WriteMetrics writes the proxy's metrics in the Prometheus text format.
func (p *Proxy) WriteMetrics(w io.Writer) error {
	bw := bufio.NewWriter(w)
	m := &p.m
	protos := [2]string{"http1", "h2"}
	secs := [2]string{"plain", "tls"}
	fmt.Fprintf(bw, "# HELP request_total Requests received, by protocol and transport security.\n# TYPE request_total counter\n")
	for i := range protos {
		for j := range secs {
			fmt.Fprintf(bw, "request_total{proto=%q,tls=%q} %d\n", protos[i], secs[j], m.byProto[i][j].Load())
		}
	}
	fmt.Fprintf(bw, "# HELP response_total Responses sent, by status class (\"none\": the exchange broke off).\n# TYPE response_total counter\n")
	for c := range m.classes {
		name := "none"
		if c > 0 {
			name = strconv.Itoa(c) + "xx"
		}
		fmt.Fprintf(bw, "response_total{status_class=%q} %d\n", name, m.classes[c].Load())
	}
	fmt.Fprintf(bw, "# HELP response_latency_ms Time from a request's arrival to the end of its response.\n# TYPE response_latency_ms histogram\n")
	var cum uint64
	for i := range m.buckets {
		cum += m.buckets[i].Load()
		le := "+Inf"
		if i < len(latencyBucketsMs) {
			le = strconv.FormatFloat(latencyBucketsMs[i], 'g', -1, 64)
		}
		fmt.Fprintf(bw, "response_latency_ms_bucket{le=%q} %d\n", le, cum)
	}
	fmt.Fprintf(bw, "response_latency_ms_sum %g\nresponse_latency_ms_count %d\n", float64(m.latencyNs.Load())/1e6, cum)
	fmt.Fprintf(bw, "# HELP retry_total Retries the budget granted.\n# TYPE retry_total counter\nretry_total %d\n", p.budget.granted.Load())
	fmt.Fprintf(bw, "# HELP retry_budget_exhausted_total Retries refused because the budget was spent.\n# TYPE retry_budget_exhausted_total counter\nretry_budget_exhausted_total %d\n", p.budget.exhausted.Load())
	fmt.Fprintf(bw, "# HELP orig_proto_restored_total Requests that crossed the mesh as HTTP/2 and were restored to HTTP/1.x.\n# TYPE orig_proto_restored_total counter\norig_proto_restored_total %d\n", m.restored.Load())
	fmt.Fprintf(bw, "# HELP tcp_open_connections Client connections open now.\n# TYPE tcp_open_connections gauge\ntcp_open_connections %d\n", m.open.Load())
	fmt.Fprintf(bw, "# HELP tcp_accepted_total Client connections accepted and served (refused ones count in load_shed_total).\n# TYPE tcp_accepted_total counter\ntcp_accepted_total %d\n", m.accepted.Load())
	fmt.Fprintf(bw, "# HELP requests_pending Requests in the sidecar now.\n# TYPE requests_pending gauge\nrequests_pending %d\n", m.pending.Load())
	fmt.Fprintf(bw, "# HELP load_shed_total Requests and connections the sidecar answered 503 itself, by the local limit that was reached; never counted against an endpoint.\n# TYPE load_shed_total counter\n")
	for i, r := range shedReasons {
		fmt.Fprintf(bw, "load_shed_total{reason=%q} %d\n", r, m.shed[i].Load())
	}

	type series struct {
		name, typ, help string
		val             func(e *endpoint) float64
	}
	for _, s := range []series{
		{"endpoint_requests_total", "counter", "Attempts sent to each endpoint.", func(e *endpoint) float64 { return float64(e.requests.Load()) }},
		{"endpoint_failures_total", "counter", "Attempts that failed (5xx or no response), per endpoint.", func(e *endpoint) float64 { return float64(e.failures.Load()) }},
		{"endpoint_ejections_total", "counter", "Times failure accrual ejected each endpoint.", func(e *endpoint) float64 { return float64(e.ejections.Load()) }},
		{"endpoint_ejected", "gauge", "1 while an endpoint is ejected or being probed.", func(e *endpoint) float64 {
			if e.state.Load() == stateLive {
				return 0
			}
			return 1
		}},
		{"endpoint_outstanding", "gauge", "Requests in flight to each endpoint.", func(e *endpoint) float64 { return float64(e.outstanding.Load()) }},
		{"endpoint_ewma_rtt_ms", "gauge", "Each endpoint's peak-EWMA latency estimate.", func(e *endpoint) float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.rtt / 1e6
		}},
	} {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", s.name, s.help, s.name, s.typ)
		for _, e := range p.eps {
			fmt.Fprintf(bw, "%s{endpoint=%q} %s\n", s.name, e.addr, strconv.FormatFloat(s.val(e), 'g', -1, 64))
		}
	}
	return bw.Flush()
}

// ParseMetrics reads Prometheus text. Each metric's samples are summed over
// their labels under its bare name ({"endpoint_ejections_total": 3}), and
// each labelled sample is also kept under its name and labels as written
// (`request_total{proto="h2",tls="tls"}`). It is what a path reads back from
// a sidecar's /metrics.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, labels := line, "", ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				return nil, fmt.Errorf("metrics line %q: unclosed labels", line)
			}
			labels, rest = rest[:j+1], rest[j+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) {
			return nil, fmt.Errorf("metrics line %q: bad value", line)
		}
		out[name] += v
		if labels != "" {
			out[name+labels] += v
		}
	}
	return out, sc.Err()
}
