package sidecar

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/internal/timer"
)

// Headers the sidecar speaks, as linkerd2-proxy names them.
const (
	// OrigProtoHeader carries the application's protocol across the
	// HTTP/2 hop between an outbound and an inbound sidecar, so that the
	// inbound side can restore it (linkerd2-proxy's l5d-orig-proto).
	OrigProtoHeader = "L5d-Orig-Proto"
	// ProxyErrorHeader says why the sidecar itself answered with an error,
	// rather than the upstream (linkerd2-proxy's l5d-proxy-error).
	ProxyErrorHeader = "L5d-Proxy-Error"
)

// Why the sidecar answered itself. Constant so that an error costs no
// allocation.
const (
	errNoEndpoint = "no endpoint available: all are ejected"
	errTimeout    = "request timed out"
	errConnect    = "connection to the upstream failed"
	errUpstream   = "upstream failed"
	errConnectM   = "CONNECT is not proxied"
	errBadBody    = "malformed request body"
	errCanceled   = "the client canceled the request"
)

// Proxy is the request path of one sidecar: an http.Handler that forwards
// each request to one of its endpoints.
type Proxy struct {
	inbound bool
	// meshHop is set on an outbound sidecar whose upstreams are inbound
	// sidecars reached over HTTP/2: it tags requests with OrigProtoHeader.
	meshHop bool
	scheme  string

	eps    []*endpoint
	bal    balancer
	policy accrualPolicy
	budget *budget
	rt     http.RoundTripper

	timeout, attemptTimeout time.Duration
	maxRetries, maxBody     int
	decay                   float64
	maxPending              int64
	// addedDelay and delay: the calibration delay (Config.AddedDelay) and
	// the timer that keeps it; nil when there is none.
	addedDelay time.Duration
	delay      *timer.Timer

	// now is the proxy's clock in ns (monotonic); injected for tests.
	now func() int64

	m metrics
}

// deps are what tests replace: the clock, the randomness and the transport.
type deps struct {
	now   func() int64
	intn  func(int) int
	float func() float64
	rt    http.RoundTripper
}

// New builds the proxy cfg describes, with a real clock and transport.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rt, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	base := time.Now()
	return newProxy(cfg, deps{
		now:   func() int64 { return int64(time.Since(base)) },
		intn:  rand.IntN,
		float: rand.Float64,
		rt:    rt,
	}), nil
}

func newProxy(cfg Config, d deps) *Proxy {
	p := &Proxy{
		inbound:        cfg.Mode == Inbound,
		meshHop:        cfg.Mode == Outbound && cfg.TLS.Enabled(),
		scheme:         "http",
		bal:            balancer{kind: cfg.Balancer, decay: float64(cfg.EWMADecay), intn: d.intn},
		budget:         newBudget(cfg.RetryBudgetRatio, cfg.RetryBudgetMinPerS, int64(cfg.RetryBudgetWindow)),
		rt:             d.rt,
		timeout:        cfg.Timeout,
		attemptTimeout: cfg.AttemptTimeout,
		maxRetries:     cfg.MaxRetries,
		maxBody:        cfg.MaxRetryBody,
		decay:          float64(cfg.EWMADecay),
		maxPending:     int64(cfg.MaxPending),
		now:            d.now,
		policy: accrualPolicy{
			kind: cfg.Accrual, rate: cfg.SuccessRate, window: cfg.SuccessWindow,
			consecutive: cfg.ConsecutiveFailures,
			min:         float64(cfg.BackoffMin), max: float64(cfg.BackoffMax), jitter: cfg.BackoffJitter,
			float: d.float,
		},
	}
	if p.meshHop {
		p.scheme = "https"
	}
	if cfg.AddedDelay > 0 {
		p.addedDelay, p.delay = cfg.AddedDelay, timer.Default()
	}
	if p.attemptTimeout >= p.timeout {
		p.attemptTimeout = 0
	}
	window := 0
	if cfg.Accrual == AccrualSuccessRate {
		window = cfg.SuccessWindow
	}
	t := p.now()
	for i, u := range cfg.Upstreams {
		e := newEndpoint(u, float64(cfg.EWMADefaultRTT), t, window)
		e.idx = i
		p.eps = append(p.eps, e)
	}
	return p
}

// bufPool holds the buffers response bodies are copied through. 16 KiB
// covers typical API responses in one read while keeping a sidecar with a
// few dozen streams in flight well under its memory target.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// Preallocated header values, so that tagging a request allocates nothing.
var (
	origHTTP11 = []string{"HTTP/1.1"}
	origHTTP10 = []string{"HTTP/1.0"}
)

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	p.m.countRequest(r)
	if r.ProtoMajor == 1 && r.TransferEncoding != nil {
		w = closeAfter{w}
	}
	// Shed before anything else: a request over the limit costs no
	// upstream connection, and no endpoint hears of it.
	n := p.m.pending.Add(1)
	defer p.m.pending.Add(-1)
	var status int
	if n > p.maxPending {
		p.m.shed[shedPending].Add(1)
		status = p.fail(w, http.StatusServiceUnavailable, errPending)
	} else {
		status = p.serve(w, r, start)
	}
	p.m.countResponse(status, p.now()-start)
}

// serve forwards r and returns the status sent to the client (0 when the
// exchange broke off).
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, start int64) int {
	if r.Method == http.MethodConnect {
		return p.fail(w, http.StatusMethodNotAllowed, errConnectM)
	}
	h := r.Header
	if p.inbound {
		if v, ok := h[OrigProtoHeader]; ok {
			// The request crossed the mesh as HTTP/2; the application
			// gets it back as the HTTP/1.x it was sent as.
			delete(h, OrigProtoHeader)
			if len(v) == 1 && (v[0] == "HTTP/1.1" || v[0] == "HTTP/1.0") {
				p.m.restored.Add(1)
			}
		}
	}
	removeHopHeaders(h)
	keepNoUserAgent(h)
	if p.meshHop {
		if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
			h[OrigProtoHeader] = origHTTP10
		} else if r.ProtoMajor == 1 {
			h[OrigProtoHeader] = origHTTP11
		}
	}

	// Decide whether the request may be sent twice, and make that
	// possible by buffering a small body.
	canRetry := p.maxRetries > 0 && p.budget.enabled() && retryable(r)
	delete(h, RetryableHeader)
	noBody := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	var body []byte
	var bufp *[]byte
	if canRetry && !noBody {
		if r.ContentLength < 0 || r.ContentLength > int64(p.maxBody) {
			canRetry = false
		} else {
			bufp = bufPool.Get().(*[]byte)
			defer bufPool.Put(bufp)
			if int(r.ContentLength) > len(*bufp) {
				b := make([]byte, r.ContentLength)
				bufp = &b
			}
			body = (*bufp)[:r.ContentLength]
			if _, err := io.ReadFull(r.Body, body); err != nil {
				return p.fail(w, http.StatusBadRequest, errBadBody)
			}
		}
	}
	// A connection that was refused carried nothing, so a request without
	// a body can go elsewhere whatever its method.
	replayable := noBody || body != nil
	var streamed *reqBody
	if !noBody && body == nil {
		// Watch the body as it streams: if the client's body is what broke
		// (a bad chunk, a short Content-Length), the answer is 400, not a
		// 502 that blames the upstream.
		streamed = &reqBody{ReadCloser: r.Body}
		r.Body = streamed
	}

	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	p.budget.deposit(start)

	var tried uint64
	for attempt := 0; ; attempt++ {
		now := p.now()
		ep, probe := p.choose(tried, now)
		if ep == nil {
			return p.fail(w, http.StatusServiceUnavailable, errNoEndpoint)
		}
		if ep.idx < 64 {
			tried |= 1 << ep.idx
		}
		ep.outstanding.Add(1)
		ep.requests.Add(1)
		resp, acancel, err := p.attempt(ctx, ep, r, body)
		end := p.now()
		if err != nil && r.Context().Err() != nil {
			// The client went away, or half-closed its side mid-request:
			// nothing to judge the endpoint by. Answer anyway, in case it
			// still reads, but count the exchange as broken off.
			ep.abandon(probe, end)
			ep.outstanding.Add(-1)
			acancel()
			if streamed != nil && streamed.bad.Load() {
				p.fail(w, http.StatusBadRequest, errBadBody)
			} else {
				p.fail(w, http.StatusBadGateway, errCanceled)
			}
			return 0
		}
		if isLocalErr(err) {
			// This host is out of descriptors, ports or memory: every
			// endpoint would fail the same way, and none is to blame.
			ep.abandon(probe, end)
			ep.outstanding.Add(-1)
			acancel()
			p.m.shed[shedLocal].Add(1)
			return p.fail(w, http.StatusServiceUnavailable, errLocal)
		}
		ok := err == nil && resp.StatusCode < 500
		ep.observe(end, float64(end-now), p.decay)
		if !ok {
			ep.failures.Add(1)
		}
		ep.record(&p.policy, ok, probe, end)

		if !ok && attempt < p.maxRetries && ctx.Err() == nil &&
			(canRetry || (replayable && isConnectErr(err))) && p.budget.withdraw(end) {
			if resp != nil {
				discard(resp.Body)
			}
			acancel()
			ep.outstanding.Add(-1)
			continue
		}
		if err != nil {
			acancel()
			ep.outstanding.Add(-1)
			switch {
			case streamed != nil && streamed.bad.Load():
				return p.fail(w, http.StatusBadRequest, errBadBody)
			case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
				return p.fail(w, http.StatusGatewayTimeout, errTimeout)
			case isConnectErr(err):
				return p.fail(w, http.StatusBadGateway, errConnect)
			default:
				return p.fail(w, http.StatusBadGateway, errUpstream)
			}
		}
		if streamed != nil && streamed.bad.Load() {
			// The upstream answered a request whose body broke off; what it
			// said is about a request the client never finished.
			discard(resp.Body)
			acancel()
			ep.outstanding.Add(-1)
			return p.fail(w, http.StatusBadRequest, errBadBody)
		}
		if p.delay != nil {
			// After the latency estimate took its sample: the delay is
			// the sidecar's, not the endpoint's.
			p.delay.Sleep(p.addedDelay)
		}
		status := p.copyResponse(w, resp)
		acancel()
		ep.outstanding.Add(-1)
		return status
	}
}

// choose returns the endpoint for the next attempt and whether it is that
// endpoint's probe. An endpoint whose ejection ran out is tried first,
// with this request as its single probe; otherwise the balancer picks among
// live endpoints this request has not tried yet (any live one once all
// were tried).
func (p *Proxy) choose(tried uint64, now int64) (*endpoint, bool) {
	for _, e := range p.eps {
		if (e.idx >= 64 || tried&(1<<e.idx) == 0) && e.takeProbe(now) {
			return e, true
		}
	}
	var buf [16]*endpoint
	cands := buf[:0]
	for _, e := range p.eps {
		if e.state.Load() == stateLive && (e.idx >= 64 || tried&(1<<e.idx) == 0) {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 && tried != 0 {
		for _, e := range p.eps {
			if e.state.Load() == stateLive {
				cands = append(cands, e)
			}
		}
	}
	return p.bal.pick(cands, now), false
}

func noCancel() {}

// attempt sends r to ep once. The returned cancel ends the attempt's own
// deadline; call it once the response body is done with.
func (p *Proxy) attempt(ctx context.Context, ep *endpoint, r *http.Request, body []byte) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(noCancel)
	if p.attemptTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.attemptTimeout)
	}
	out := r.WithContext(ctx)
	out.URL = &url.URL{Scheme: p.scheme, Host: ep.addr, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Close = false
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	} else if r.ContentLength == 0 {
		// Tell the transport there is no body rather than letting it
		// probe the server's empty body.
		out.Body = nil
	}
	resp, err := p.rt.RoundTrip(out)
	if err != nil {
		cancel()
		return nil, noCancel, err
	}
	return resp, cancel, nil
}

// copyResponse sends resp to the client and returns its status.
func (p *Proxy) copyResponse(w http.ResponseWriter, resp *http.Response) int {
	defer resp.Body.Close()
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	removeHopHeaders(h)
	keepNoContentType(h, resp.Header)
	w.WriteHeader(resp.StatusCode)

	// A body of unknown length may be a stream (server-sent events, long
	// polling): pass each piece on at once, as httputil.ReverseProxy does.
	flusher, _ := w.(http.Flusher)
	flush := resp.ContentLength < 0 && flusher != nil
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	buf := *bufp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return 0 // the client went away
			}
			if flush {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The upstream broke off mid-body. Abort the client's response
			// too, rather than let a truncated body look complete.
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return resp.StatusCode
}

func (p *Proxy) fail(w http.ResponseWriter, status int, why string) int {
	h := w.Header()
	h.Set(ProxyErrorHeader, why)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, why+"\n")
	return status
}

// reqBody remembers whether reading a streamed request body failed. The
// transport reads it from its own goroutine, hence the atomic.
type reqBody struct {
	io.ReadCloser
	bad atomic.Bool
}

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.bad.Store(true)
	}
	return n, err
}

// isConnectErr reports whether err happened while connecting, before any
// byte of the request left.
func isConnectErr(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}

// discard drains a little of a failed attempt's body so that its
// connection can be reused, then closes it.
func discard(b io.ReadCloser) {
	io.CopyN(io.Discard, b, 4<<10)
	b.Close()
}
