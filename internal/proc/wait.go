package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// pollEvery is how often WaitHTTP and WaitTCP try again: short next to a
// proxy's start-up time, long enough not to busy a small host.
const pollEvery = 20 * time.Millisecond

// WaitHTTP polls url until it gets any HTTP answer, whatever the status:
// a proxy that answers 502 is up, its upstream is another matter. It gives
// up after timeout, when ctx ends, or as soon as p exits (p may be nil),
// naming the last error it saw.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration, p *Process) error {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// Never follow a redirect: the first answer is the proof of life.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	return poll(ctx, "GET "+url, timeout, p, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// WaitTCP polls addr (host:port) until it accepts a connection, with the
// same rules as WaitHTTP.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration, p *Process) error {
	var d net.Dialer
	return poll(ctx, "connect "+addr, timeout, p, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func poll(parent context.Context, what string, timeout time.Duration, p *Process, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var done <-chan struct{}
	name := ""
	if p != nil {
		done = p.Done()
		name = p.name + ": "
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var err error
	for {
		e := try(ctx)
		if e == nil {
			return nil
		}
		// A try cut short by the deadline says nothing new: keep the
		// error before it, which tells why the target does not answer.
		if err == nil || ctx.Err() == nil {
			err = e
		}
		select {
		case <-done:
			return fmt.Errorf("%sexited (%v) before it answered %s; last error: %v", name, p.Err(), what, err)
		case <-ctx.Done():
			if perr := parent.Err(); perr != nil {
				return fmt.Errorf("%swaiting for %s: %w", name, what, perr)
			}
			return fmt.Errorf("%sno answer to %s within %s; last error: %v", name, what, timeout, err)
		case <-tick.C:
		}
	}
}
