package sidecar

import (
	"net"
	"net/http"
	"time"
)

// newTransport is the sidecar's client side toward its upstreams.
//
// Plain upstreams (the replicas, or the local application of an inbound
// sidecar) get HTTP/1.1 with a large keep-alive pool: net/http's default of
// 2 idle connections per host would make a sidecar under a few hundred
// requests/s open and close a connection for most requests. Requests
// without a body take the lean client of h1client.go; net/http's Transport
// carries the rest.
//
// With TLS files on an outbound sidecar the upstreams are inbound sidecars:
// the hop is HTTP/2 over mutual TLS 1.3, as between two linkerd2-proxies,
// so all requests to one peer share one connection and its handshake.
func newTransport(cfg Config) (http.RoundTripper, error) {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		// Never route through an HTTP_PROXY from the environment: the
		// sidecar is the proxy.
		Proxy:               nil,
		DialContext:         fastDial(d),
		MaxIdleConnsPerHost: cfg.MaxIdlePerUpstream,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.ConnectTimeout,
		// Bodies pass through as they are: decompressing would cost CPU
		// and change what the client receives.
		DisableCompression: true,
		// Expect: 100-continue is the client's business with the
		// upstream; send the body at once rather than wait a second.
		ExpectContinueTimeout: 0,
	}
	protos := new(http.Protocols)
	if cfg.Mode == Outbound && cfg.TLS.Enabled() {
		tc, err := cfg.TLS.ClientTLS()
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = tc
		protos.SetHTTP2(true)
		t.HTTP2 = &http.HTTP2Config{
			// Detect a dead peer on an idle connection rather than on the
			// next request (linkerd2-proxy pings its HTTP/2 peers too).
			SendPingTimeout: 10 * time.Second,
			PingTimeout:     5 * time.Second,
		}
		t.Protocols = protos
		return newH2Transport(t.DialContext, tc, t, cfg.ConnectTimeout), nil
	}
	protos.SetHTTP1(true)
	t.Protocols = protos
	return newH1Transport(t.DialContext, t, cfg.MaxIdlePerUpstream, t.IdleConnTimeout), nil
}
