package marathon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Client speaks Marathon's REST API v2 over net/http. Requests go to the
// first URL that answers; a connection error moves on to the next one.
type Client struct {
	// URLs are Marathon's, tried in turn.
	URLs []string
	// HTTP sends the requests.
	HTTP *http.Client
	// User and Password are for basic auth.
	User     string
	Password string
	// Token is a DC/OS token: "Authorization: token=...".
	Token string
	// RetryWait is the first pause before a GET that got a 5xx is sent
	// again (three more times, each pause longer); default 250ms.
	RetryWait time.Duration

	mu   sync.Mutex
	good int // the URL that answered last
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// URLs are Marathon's, tried in turn (at least one).
	URLs []string
	// User and Password are for basic auth.
	User, Password string
	// Token is a DC/OS token, instead of basic auth.
	Token string
	// CAFile verifies Marathon's TLS certificate against this CA.
	CAFile string
	// InsecureSkipVerify does not verify Marathon's TLS certificate.
	InsecureSkipVerify bool
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
}

// NewClient returns a client.
func NewClient(o ClientOptions) (*Client, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("marathon: no url")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" || o.InsecureSkipVerify {
		tc := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no certificates", o.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	urls := make([]string, len(o.URLs))
	for i, u := range o.URLs {
		urls[i] = strings.TrimRight(u, "/")
	}
	return &Client{URLs: urls, HTTP: &http.Client{Transport: tr, Timeout: timeout},
		User: o.User, Password: o.Password, Token: o.Token}, nil
}

// APIError is an answer other than 2xx.
type APIError struct {
	Status      int      // the HTTP status
	Message     string   // Marathon's message, or the status text
	Deployments []string // for 409: the deployments that lock the app
	Details     string   // what was wrong where, for a refused definition
}

// Error says the status, the message and the details.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("marathon: %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Details != "" {
		msg += " (" + e.Details + ")"
	}
	return msg
}

// Locked reports whether err is a 409 "locked by deployment".
func Locked(err error) (*APIError, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return ae, true
	}
	return nil, false
}

func (c *Client) request(ctx context.Context, base, method, path string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "token="+c.Token)
	case c.User != "":
		req.SetBasicAuth(c.User, c.Password)
	}
	return req, nil
}

// do sends a request, failing over between URLs on connection errors, and
// decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	wait := c.RetryWait
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	var b []byte
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, method, path, body)
		if err != nil {
			return err
		}
		b, err = io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode/100 == 2 {
			break
		}
		// a GET is safe to send again when Marathon has a bad moment (a
		// leader election answers 503)
		if method != http.MethodGet || resp.StatusCode < 500 || attempt == 3 {
			return apiError(resp.StatusCode, b)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait << attempt):
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("marathon: %s %s: %v", method, path, err)
	}
	return nil
}

// send tries the URLs in turn, starting with the one that answered last.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	c.mu.Lock()
	start := c.good
	c.mu.Unlock()
	var errs []string
	for i := range c.URLs {
		n := (start + i) % len(c.URLs)
		req, err := c.request(ctx, c.URLs[n], method, path, body)
		if err != nil {
			return nil, err
		}
		resp, err := c.HTTP.Do(req)
		if err == nil {
			c.mu.Lock()
			c.good = n
			c.mu.Unlock()
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		var oe *net.OpError
		if !errors.As(err, &oe) && !(errors.As(err, &ne) && ne.Timeout()) {
			return nil, err
		}
		errs = append(errs, fmt.Sprintf("%s: %v", c.URLs[n], oe))
	}
	return nil, fmt.Errorf("marathon: no url answered: %s", strings.Join(errs, "; "))
}

func apiError(status int, b []byte) error {
	var body struct {
		Message     string `json:"message"`
		Deployments []struct {
			ID string `json:"id"`
		} `json:"deployments"`
		Details []struct {
			Path   string   `json:"path"`
			Errors []string `json:"errors"`
		} `json:"details"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(b, &body) == nil {
		e.Message = body.Message
		for _, d := range body.Deployments {
			e.Deployments = append(e.Deployments, d.ID)
		}
		var ds []string
		for _, d := range body.Details {
			ds = append(ds, d.Path+": "+strings.Join(d.Errors, ", "))
		}
		e.Details = strings.Join(ds, "; ")
	} else {
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}
