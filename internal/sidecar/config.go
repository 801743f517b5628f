// Package sidecar is meshbench's Linkerd-style data-plane proxy: an HTTP/1.1
// reverse proxy that balances over its upstreams with power-of-two-choices
// over peak-EWMA latency, ejects failing endpoints (success rate or
// consecutive failures) and re-admits them through a single probe after a
// jittered backoff, retries idempotent requests under a budget, and, in the
// two-hop mode, carries the application's HTTP/1.1 over mutually
// authenticated TLS 1.3 and HTTP/2 to an inbound sidecar that restores it.
//
// Real Linkerd cannot be installed on the hosts meshbench measures (Linkerd 1
// needs a JVM, linkerd2-proxy is not packaged), so this package reproduces
// the behaviours that decide what a mesh hop costs and how it copes with a
// bad replica, with Linkerd's defaults. Each default below names where it
// comes from.
//
// One concern per file: config (this file), balancer, accrual, retry
// (budget), proxy (the request path), headers (what is forwarded), limits
// (local overload shed before it reaches an upstream), transport (the hop to
// the upstreams, HTTP/1.1 or HTTP/2), mtls (the ephemeral CA), metrics and
// admin, serve (the listeners' lifecycle).
package sidecar

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/knob"
)

// Modes.
const (
	// Outbound sits beside the client: it balances, ejects and retries.
	Outbound = "outbound"
	// Inbound sits beside one replica: it terminates the mesh hop and
	// forwards to the local application, as linkerd2-proxy's inbound side.
	Inbound = "inbound"
)

// Balancers.
const (
	BalancerEWMA       = "ewma"       // p2c over peak-EWMA RTT × (outstanding+1), linkerd2-proxy
	BalancerP2C        = "p2c"        // p2c least outstanding, Linkerd 1's p2c
	BalancerRoundRobin = "roundrobin" // plain rotation over available endpoints
)

// Failure accrual policies.
const (
	AccrualSuccessRate = "success-rate"
	AccrualConsecutive = "consecutive-failures"
	AccrualNone        = "none"
)

// Config is one sidecar. Default returns Linkerd's defaults; the zero value
// is not usable on its own (Validate says why).
type Config struct {
	// Mode is Outbound or Inbound.
	Mode string
	// Listen is where the application (outbound) or the peer sidecar
	// (inbound) connects.
	Listen string
	// Upstreams are host:port endpoints: the replicas for an outbound
	// sidecar, the inbound sidecars in the two-hop mesh, the local
	// application for an inbound sidecar.
	Upstreams []string
	// Admin is the admin listener (/metrics, /ready); empty means none.
	Admin string

	Balancer string
	// EWMADefaultRTT is the latency assumed for an endpoint before it has
	// answered, and EWMADecay how fast an estimate forgets (linkerd2-proxy:
	// 30 ms and 10 s).
	EWMADefaultRTT, EWMADecay time.Duration

	Accrual string
	// SuccessRate and SuccessWindow: eject an endpoint when fewer than
	// SuccessRate of its last SuccessWindow responses succeeded (Linkerd 1's
	// classic successRate accrual: 0.9 over 20 requests).
	SuccessRate   float64
	SuccessWindow int
	// ConsecutiveFailures ejects after this many failures in a row
	// (linkerd2's failure-accrual breaker: 7).
	ConsecutiveFailures int
	// BackoffMin, BackoffMax and BackoffJitter shape how long an ejected
	// endpoint stays out: min×2^k, plus up to jitter of that, capped at max
	// (linkerd2's failure-accrual penalty: 1 s to 1 min, jitter ratio 0.5).
	BackoffMin, BackoffMax time.Duration
	BackoffJitter          float64

	// RetryBudgetRatio and RetryBudgetMinPerS allow, over RetryBudgetWindow,
	// retries up to Ratio × requests plus MinPerS × window seconds
	// (linkerd2's default retry budget: 20%, 10/s, 10 s TTL). A ratio and a
	// minimum of 0 turn retries off.
	RetryBudgetRatio   float64
	RetryBudgetMinPerS float64
	RetryBudgetWindow  time.Duration
	// MaxRetries bounds retries per request even when the budget has room,
	// so that one request cannot walk every endpoint (meshbench's own cap).
	MaxRetries int
	// MaxRetryBody is the largest request body buffered so that the request
	// can be retried; a larger one is sent once (linkerd2 buffers 64 KiB).
	MaxRetryBody int

	// Timeout bounds a request end to end, retries included (a Linkerd
	// ServiceProfile route's default, 10 s); AttemptTimeout bounds one
	// attempt (0: only Timeout); ConnectTimeout bounds a dial (linkerd2-proxy's
	// outbound connect timeout, 1 s).
	Timeout, AttemptTimeout, ConnectTimeout time.Duration

	// MaxHeaderBytes bounds a request's header block; a larger one is
	// refused before it reaches the proxy.
	MaxHeaderBytes int
	// MaxIdlePerUpstream is how many idle keep-alive connections are kept
	// to each upstream.
	MaxIdlePerUpstream int

	// MaxConnections bounds the client connections open at once; one more
	// is answered 503 and closed at accept (limits.go). MaxPending bounds
	// the requests in the proxy at once; one more is answered 503 without
	// reaching an upstream. Both are local overload: neither ever counts
	// against an upstream in failure accrual.
	//
	// Defaults, from the sidecar's RSS measured with many connections
	// open (sidecarcmd's flood test, 2-core KVM guest): a keep-alive client
	// connection costs about 21 KB (a goroutine stack, net/http's 4 KiB
	// read and write buffers, the socket's structures), and a request in
	// flight about 46 KB with its client connection and the upstream
	// connection it holds. 1024 connections are then about 21 MB and 512
	// pending requests another 13 MB: under a flood the sidecar stays near
	// 45 MB where, without limits, it grew past 170 MB. Both sit well above
	// what a load test needs as long as the client's connections fit:
	// meshbench opens 64 per path by default, and Little's law gives 512
	// requests in flight only at 5000 req/s with 100 ms responses.
	// linkerd2-proxy's in-flight limit (100,000) bounds nothing on a 20 MB
	// budget.
	MaxConnections, MaxPending int

	// AddedDelay holds each upstream response this long before the
	// sidecar forwards it: a hop whose added latency is known, to check
	// the overhead and intervals meshbench reports (0: none). A test and
	// calibration knob, not a Linkerd behaviour. The wait is internal/timer's,
	// exact to a few microseconds because it spins through its last stretch
	// (the timer's wake-up margin, up to 150 µs): each delayed response
	// costs that much CPU (about 0.1 ms at 500 µs on a 2-core VM), and with
	// one P it holds up the sidecar's other requests meanwhile.
	AddedDelay time.Duration

	// TLS, when its files are set, secures the mesh hop: an outbound
	// sidecar dials its upstreams with mutual TLS 1.3 and HTTP/2, an inbound
	// sidecar accepts only that.
	TLS TLSFiles
}

// TLSFiles are PEM files made by the CA (see mtls.go).
type TLSFiles struct {
	Cert, Key, CA string
	// ServerName is the identity an outbound sidecar expects in the inbound
	// sidecar's certificate (default IdentityName).
	ServerName string
}

// Enabled reports whether the hop is to be secured.
func (t TLSFiles) Enabled() bool { return t.Cert != "" || t.Key != "" || t.CA != "" }

// Default returns a sidecar of the given mode with Linkerd's defaults.
func Default(mode string) Config {
	c := Config{
		Mode:                mode,
		Balancer:            BalancerEWMA,
		EWMADefaultRTT:      30 * time.Millisecond,
		EWMADecay:           10 * time.Second,
		Accrual:             AccrualSuccessRate,
		SuccessRate:         0.9,
		SuccessWindow:       20,
		ConsecutiveFailures: 7,
		BackoffMin:          time.Second,
		BackoffMax:          time.Minute,
		BackoffJitter:       0.5,
		RetryBudgetRatio:    0.2,
		RetryBudgetMinPerS:  10,
		RetryBudgetWindow:   10 * time.Second,
		MaxRetries:          2,
		MaxRetryBody:        64 << 10,
		Timeout:             10 * time.Second,
		ConnectTimeout:      time.Second,
		MaxHeaderBytes:      64 << 10,
		MaxIdlePerUpstream:  256,
		MaxConnections:      1024,
		MaxPending:          512,
	}
	switch mode {
	case Inbound:
		// linkerd2-proxy's inbound side forwards to the one local
		// application: nothing to balance, eject or retry.
		c.Listen = "127.0.0.1:4143"
		c.Balancer = BalancerRoundRobin
		c.Accrual = AccrualNone
		c.RetryBudgetRatio, c.RetryBudgetMinPerS = 0, 0
		c.MaxRetries = 0
	default:
		// linkerd2-proxy's outbound port.
		c.Listen = "127.0.0.1:4140"
	}
	return c
}

// Validate says what is wrong with c, if anything.
func (c *Config) Validate() error {
	if c.Mode != Outbound && c.Mode != Inbound {
		return fmt.Errorf("mode %q is not outbound or inbound", c.Mode)
	}
	if err := checkAddr("listen", c.Listen); err != nil {
		return err
	}
	if c.Admin != "" {
		if err := checkAddr("admin", c.Admin); err != nil {
			return err
		}
	}
	if len(c.Upstreams) == 0 {
		return fmt.Errorf("no upstream: give at least one host:port")
	}
	for _, u := range c.Upstreams {
		if err := checkAddr("upstream", u); err != nil {
			return err
		}
	}
	if c.TLS.Enabled() && (c.TLS.Cert == "" || c.TLS.Key == "" || c.TLS.CA == "") {
		return fmt.Errorf("mTLS needs all of the certificate, key and CA files")
	}
	if err := table.Check(c); err != nil {
		return err
	}
	return crossCheck(c)
}

func checkAddr(what, a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%s %q is not host:port", what, a)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%s %q: bad port", what, a)
	}
	if host == "" {
		return fmt.Errorf("%s %q: give a host (127.0.0.1 keeps it local)", what, a)
	}
	return nil
}

// A setting is one knob a scenario (path settings) or the sidecar command
// (flags) may set. One table serves both, so a path validates exactly what
// the child process will accept. The name is as in a scenario; the flag is
// the same with '-' for '_'.
type setting = knob.Setting[Config]

// table is settings, indexed; its errors name a "sidecar setting".
var table = knob.NewTable("sidecar setting", settings...)

// Flag is the command-line flag for a setting name.
func Flag(name string) string { return strings.ReplaceAll(name, "_", "-") }

// Settings lists the setting names, sorted.
func Settings() []string { return table.Names() }

// Usage is a setting's one-line help.
func Usage(name string) string { return table.Usage(name) }

// Get returns a setting's value in c, formatted as Set accepts it.
func (c *Config) Get(name string) string { return table.Get(c, name) }

// Values is every setting's value in c, as Get formats it: what a run
// records as the sidecar's effective settings.
func (c *Config) Values() map[string]string { return table.Values(c) }

// Set parses one setting into c. Cross-field rules are checked by Validate.
func (c *Config) Set(name, value string) error { return table.Set(c, name, strings.TrimSpace(value)) }

// Apply sets every setting of m into c, in name order, then validates the
// settings (not the addresses, which the caller fills in later).
func (c *Config) Apply(m map[string]string) error {
	trimmed := make(map[string]string, len(m))
	for k, v := range m {
		trimmed[k] = strings.TrimSpace(v)
	}
	if err := table.Apply(c, trimmed); err != nil {
		return err
	}
	return crossCheck(c)
}

// The row constructors bind a setting to a field of Config.

func durSetting(name, usage string, f func(c *Config) *time.Duration, lo, hi time.Duration) setting {
	return knob.Field(name, usage, knob.Duration(lo, hi), f)
}

func floatSetting(name, usage string, f func(c *Config) *float64, lo, hi float64) setting {
	return knob.Field(name, usage, knob.Float(lo, hi), f)
}

func intSetting(name, usage string, f func(c *Config) *int, lo, hi int) setting {
	return knob.Field(name, usage, knob.Int(lo, hi), f)
}

func choiceSetting(name, usage string, f func(c *Config) *string, allowed ...string) setting {
	return knob.Field(name, usage, knob.OneOf(allowed...), f)
}

// settings is the one table of knobs. Bounds keep a typo from producing a
// sidecar that cannot work (a 0 s timeout, a window of a million requests).
var settings = []setting{
	choiceSetting("balancer", "load balancer: ewma (p2c peak-EWMA, linkerd2), p2c (least outstanding, Linkerd 1) or roundrobin",
		func(c *Config) *string { return &c.Balancer }, BalancerEWMA, BalancerP2C, BalancerRoundRobin),
	durSetting("ewma_default_rtt", "peak-EWMA latency assumed before an endpoint answered",
		func(c *Config) *time.Duration { return &c.EWMADefaultRTT }, time.Microsecond, time.Minute),
	durSetting("ewma_decay", "peak-EWMA decay time",
		func(c *Config) *time.Duration { return &c.EWMADecay }, time.Millisecond, time.Hour),
	choiceSetting("accrual", "failure accrual: success-rate, consecutive-failures or none",
		func(c *Config) *string { return &c.Accrual }, AccrualSuccessRate, AccrualConsecutive, AccrualNone),
	floatSetting("success_rate", "success-rate accrual: eject below this share of successes",
		func(c *Config) *float64 { return &c.SuccessRate }, 0, 1),
	intSetting("success_window", "success-rate accrual: over this many last requests",
		func(c *Config) *int { return &c.SuccessWindow }, 1, 10000),
	intSetting("consecutive_failures", "consecutive-failures accrual: eject after this many failures in a row",
		func(c *Config) *int { return &c.ConsecutiveFailures }, 1, 10000),
	durSetting("backoff_min", "shortest ejection",
		func(c *Config) *time.Duration { return &c.BackoffMin }, time.Millisecond, time.Hour),
	durSetting("backoff_max", "longest ejection",
		func(c *Config) *time.Duration { return &c.BackoffMax }, time.Millisecond, 24*time.Hour),
	floatSetting("backoff_jitter", "ejection jitter, as a share of the backoff",
		func(c *Config) *float64 { return &c.BackoffJitter }, 0, 1),
	floatSetting("retry_budget_ratio", "retries allowed as a share of requests (0 with min 0: no retries)",
		func(c *Config) *float64 { return &c.RetryBudgetRatio }, 0, 10),
	floatSetting("retry_budget_min_per_s", "retries allowed per second on top of the ratio",
		func(c *Config) *float64 { return &c.RetryBudgetMinPerS }, 0, 1e6),
	durSetting("retry_budget_window", "the retry budget's window",
		func(c *Config) *time.Duration { return &c.RetryBudgetWindow }, time.Second, time.Hour),
	intSetting("max_retries", "retries of one request at most",
		func(c *Config) *int { return &c.MaxRetries }, 0, 100),
	intSetting("max_retry_body", "largest request body buffered for retries, in bytes",
		func(c *Config) *int { return &c.MaxRetryBody }, 0, 16<<20),
	durSetting("timeout", "total time for a request, retries included",
		func(c *Config) *time.Duration { return &c.Timeout }, time.Millisecond, time.Hour),
	durSetting("attempt_timeout", "time for one attempt (0: only the total timeout)",
		func(c *Config) *time.Duration { return &c.AttemptTimeout }, 0, time.Hour),
	durSetting("connect_timeout", "time to connect to an upstream",
		func(c *Config) *time.Duration { return &c.ConnectTimeout }, time.Millisecond, time.Minute),
	intSetting("max_header_bytes", "largest request header block accepted",
		func(c *Config) *int { return &c.MaxHeaderBytes }, 1<<10, 1<<20),
	intSetting("max_idle_per_upstream", "idle keep-alive connections kept per upstream",
		func(c *Config) *int { return &c.MaxIdlePerUpstream }, 1, 100000),
	intSetting("max_connections", "client connections open at once; more are answered 503 and closed",
		func(c *Config) *int { return &c.MaxConnections }, 1, 1000000),
	intSetting("max_pending", "requests in the sidecar at once; more are answered 503 at once",
		func(c *Config) *int { return &c.MaxPending }, 1, 1000000),
	durSetting("added_delay", "hold each upstream response this long before forwarding it, to calibrate overhead (0: none)",
		func(c *Config) *time.Duration { return &c.AddedDelay }, 0, time.Second),
}

// crossCheck holds the rules that tie two settings together.
func crossCheck(c *Config) error {
	if c.BackoffMax < c.BackoffMin {
		return fmt.Errorf("sidecar setting backoff_max %s is below backoff_min %s", c.BackoffMax, c.BackoffMin)
	}
	return nil
}
