package sidecar

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Addrs are where a running sidecar listens, with the ports the kernel chose.
type Addrs struct{ Listen, Admin string }

// shutdownGrace is how long requests in flight may finish once the sidecar
// is told to stop.
const shutdownGrace = 5 * time.Second

// Run serves cfg until ctx ends, then drains. ready, if set, is called once
// every listener is open; if it returns an error, the sidecar stops and Run
// returns that error. Errors the server logs (bad handshakes, broken
// connections) go to errLog.
func Run(ctx context.Context, cfg Config, errLog io.Writer, ready func(Addrs) error) error {
	p, err := New(cfg)
	if err != nil {
		return err
	}
	if errLog == nil {
		errLog = io.Discard
	}
	var lc net.ListenConfig
	tcpLn, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return err
	}
	ln := newLimitListener(tcpLn, p, cfg.MaxConnections, cfg.Mode == Inbound && cfg.TLS.Enabled())
	defer ln.Close()
	srv, err := p.server(cfg, errLog)
	if err != nil {
		return err
	}
	var up atomic.Bool
	addrs := Addrs{Listen: ln.Addr().String()}
	var adminSrv *http.Server
	var adminLn net.Listener
	if cfg.Admin != "" {
		if adminLn, err = lc.Listen(ctx, "tcp", cfg.Admin); err != nil {
			return err
		}
		defer adminLn.Close()
		addrs.Admin = adminLn.Addr().String()
		adminSrv = &http.Server{
			Handler: admin{p: p, ready: &up}, ReadHeaderTimeout: 5 * time.Second,
			ErrorLog: log.New(errLog, "sidecar admin: ", 0),
		}
	}

	errc := make(chan error, 2)
	shutdown := srv.Shutdown
	if srv.TLSConfig != nil {
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		lean := newH1Server(p, srv, ln)
		shutdown = lean.Shutdown
		go func() { errc <- lean.Serve() }()
	}
	if adminSrv != nil {
		go func() { errc <- adminSrv.Serve(adminLn) }()
	}
	up.Store(true)
	if ready != nil {
		err = ready(addrs)
	}

	if err == nil {
		select {
		case err = <-errc:
		case <-ctx.Done():
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	up.Store(false)
	serr := shutdown(sctx)
	if adminSrv != nil {
		adminSrv.Shutdown(sctx)
	}
	if ci, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if serr != nil && !errors.Is(serr, context.DeadlineExceeded) {
		return serr
	}
	return nil
}

// server is the listener side of the proxy. An inbound sidecar with TLS
// files accepts only the mesh hop (mutual TLS 1.3, HTTP/2); every other
// sidecar speaks HTTP/1.1, and h2c with prior knowledge for clients that
// want it.
func (p *Proxy) server(cfg Config, errLog io.Writer) (*http.Server, error) {
	srv := &http.Server{
		Handler: p,
		// A client that sends its header a byte at a time must not hold
		// a connection forever.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.New(errLog, "sidecar: ", 0),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				p.m.open.Add(1)
				p.m.accepted.Add(1)
			case http.StateClosed, http.StateHijacked:
				p.m.open.Add(-1)
			}
		},
	}
	protos := new(http.Protocols)
	if cfg.Mode == Inbound && cfg.TLS.Enabled() {
		tc, err := cfg.TLS.ServerTLS()
		if err != nil {
			return nil, err
		}
		srv.TLSConfig = tc
		protos.SetHTTP2(true)
		serveMeshH2(srv, p)
	} else {
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
	}
	srv.Protocols = protos
	return srv, nil
}
