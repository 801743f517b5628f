package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
)

// callTimeout bounds a call that does not wait for other agents; starting
// a path is the slowest (a proxy that takes seconds to answer).
const callTimeout = time.Minute

// Client calls a serve host's control API.
type Client struct {
	base  *url.URL
	host  string // the server's host name or IP, as the URL gives it
	token string
	http  *http.Client
}

// NewClient checks rawURL (https://HOST:PORT) and prepares a client that
// sends creds' token and accepts only the certificate creds pins.
func NewClient(rawURL string, creds Credentials) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, errext.BadInputf("--remote %q: want https://HOST:PORT, the address `meshbench serve --listen` was given", rawURL)
	}
	u.Path = ""
	tr := &http.Transport{
		TLSClientConfig:     pinnedTLS(creds.Fingerprint),
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		ForceAttemptHTTP2:   true,
	}
	return &Client{base: u, host: u.Hostname(), token: creds.Token, http: &http.Client{Transport: tr}}, nil
}

// Host is the server's host as the URL names it: where the paths are.
func (c *Client) Host() string { return c.host }

// call sends in (when not nil) as JSON and decodes the answer into out
// (when not nil). A refused token or certificate, and the server's
// complaints about the client's scenario, are bad input.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var pin *errPinned
		if errors.As(err, &pin) {
			return errext.BadInputf("%s: %v", c.base, pin)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s%s: %w", c.base, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return errext.BadInputf("%s refused the token (401): use the token file that this server's `meshbench serve` wrote", c.base)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		if eb.BadInput {
			return errext.BadInputf("server %s: %s", c.host, eb.Error)
		}
		return fmt.Errorf("server %s: %s", c.host, eb.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s%s: bad answer: %w", c.base, path, err)
	}
	return nil
}

// Paths lists the paths the server offers and where they listen.
func (c *Client) Paths(ctx context.Context) ([]PathInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var out []PathInfo
	return out, c.call(ctx, http.MethodGet, "/v1/paths", nil, &out)
}
