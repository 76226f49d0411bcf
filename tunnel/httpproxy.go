package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"time"
)

// An HTTP proxy whose connections go through the tunnel: CONNECT (RFC 9110
// §9.3.6) for HTTPS and anything else tunnelled, and absolute-form
// requests (RFC 9112 §3.2.2) for plain HTTP. Clients find it through
// HTTP_PROXY / HTTPS_PROXY.

// httpProxy is the handler of one listener.
type httpProxy struct {
	n  *netstack
	fe *frontEnds
	rp *httputil.ReverseProxy
}

// serveHTTP serves the HTTP proxy on ln until close.
func (fe *frontEnds) serveHTTP(ln net.Listener) {
	p := &httpProxy{n: fe.n, fe: fe}
	tr := &http.Transport{
		Proxy: nil, // the tunnel is the way out
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return fe.n.dial(ctx, network, addr)
		},
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      func(r *httputil.ProxyRequest) { r.Out.URL = r.In.URL; r.Out.Host = r.In.Host },
		Transport:    tr,
		ErrorHandler: p.dialFailed,
		ErrorLog:     nil,
	}
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: socksHandshakeTimeout,
		BaseContext:       func(net.Listener) context.Context { return fe.ctx },
		ErrorLog:          nil,
	}
	fe.track(&httpCloser{srv, tr})
	fe.goTracked(func() { srv.Serve(ln) })
}

// httpCloser closes the server: its listener and every connection but
// the hijacked ones (tracked themselves), and the idle upstream ones.
type httpCloser struct {
	srv *http.Server
	tr  *http.Transport
}

func (c *httpCloser) Close() error {
	c.tr.CloseIdleConnections()
	return c.srv.Close()
}

func (p *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "l2tpctl: this is an HTTP proxy: send CONNECT or an absolute http:// URL", http.StatusBadRequest)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// connect serves CONNECT host:port: dial inside the tunnel, answer 200, and
// splice the client's connection (hijacked) to it.
func (p *httpProxy) connect(w http.ResponseWriter, r *http.Request) {
	if _, _, err := net.SplitHostPort(r.Host); err != nil {
		http.Error(w, "l2tpctl: CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	ctx, cancel := p.fe.dialContext()
	up, err := p.n.dial(ctx, "tcp", r.Host)
	cancel()
	if err != nil {
		p.dialFailed(w, r, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "l2tpctl: cannot take over the connection", http.StatusInternalServerError)
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.fe.track(c) {
		up.Close()
		return
	}
	defer p.fe.untrack(c)
	c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		up.Close()
		return
	}
	// Bytes the client sent after the request (pipelined) are in rw's buffer.
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			up.Close()
			return
		}
	}
	p.fe.splice(c, up)
}

// dialFailed answers a request whose connection inside the tunnel failed:
// 503 while the tunnel is down, 504 on a timeout, otherwise 502.
func (p *httpProxy) dialFailed(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, errLinkDown):
		code = http.StatusServiceUnavailable
	case errors.Is(err, errTimedOut), errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	p.fe.log.debugf("http-proxy: %s %s: %v", r.Method, r.Host, err)
	http.Error(w, fmt.Sprintf("l2tpctl: %s through the tunnel: %v", r.Host, err), code)
}
