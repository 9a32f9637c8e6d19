package api

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/deployq/deployq/queue"
)

// A page of another site must not make a browser change anything here,
// and an open server answers to its own names only.

// sameSite refuses what a page of another site makes a browser send: a
// change (any method but GET, HEAD, OPTIONS) whose Sec-Fetch-Site or
// Origin says it comes from elsewhere, as net/http's
// CrossOriginProtection judges it (base_url's origin is trusted, for a
// proxy that changes Host). On an open server it also refuses a Host that
// is neither a loopback address, localhost, nor base_url's host: a name
// of someone else's that resolves to 127.0.0.1 (DNS rebinding) reaches
// nothing.
func (s *Server) sameSite(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(s.baseURL); err == nil && u.Host != "" {
		cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, http.StatusForbidden, queue.EForbidden,
			fmt.Sprintf("a change sent by a page of another site is refused (Origin %q)", r.Header.Get("Origin")))
	}))
	checked := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.tokens) == 0 && !s.ownHost(r.Host) {
			writeErrorBody(w, http.StatusForbidden, queue.EForbidden,
				fmt.Sprintf("this open server answers to localhost, loopback addresses and its base_url only, not to %q", r.Host))
			return
		}
		checked.ServeHTTP(w, r)
	})
}

// ownHost reports whether a Host header names this open server: a
// loopback address, localhost, or the host of base_url.
func (s *Server) ownHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	u, err := url.Parse(s.baseURL)
	return err == nil && u.Hostname() != "" && strings.EqualFold(host, u.Hostname())
}
