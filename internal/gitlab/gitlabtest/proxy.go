package gitlabtest

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// ConnectProxy is a small HTTP proxy on loopback that opens CONNECT tunnels,
// for tests of connections through a company proxy. It tunnels bytes only:
// TLS runs end to end between the client and the server behind it. It also
// forwards plain-http requests in absolute form, one per connection. Every
// connection it holds is closed when the test ends, and every tunnel has a
// deadline, so a test cannot hang on it.
type ConnectProxy struct {
	// Routes maps a CONNECT target or the host:port of a forwarded request
	// (as the client asks for it) to the loopback address really connected
	// to. A target missing from it is answered 502 Bad Gateway.
	Routes map[string]string
	// Refuse, when not zero, is the status every CONNECT is answered with.
	Refuse int
	// User and Password, when User is set, are the credentials the proxy
	// demands (407 without them).
	User, Password string

	addr     string
	mu       sync.Mutex
	connects []string
	forwards []string
	conns    []net.Conn
}

// StartConnectProxy starts p on 127.0.0.1 and returns it; it stops when
// the test ends.
func StartConnectProxy(t testing.TB, p *ConnectProxy) *ConnectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.track(c)
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

// Addr returns the proxy's host:port.
func (p *ConnectProxy) Addr() string { return p.addr }

// Connects returns the target of every CONNECT received, in order.
func (p *ConnectProxy) Connects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.connects)
}

// Forwards returns the host:port of every plain-http request forwarded (or
// refused), in order.
func (p *ConnectProxy) Forwards() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.forwards)
}

func (p *ConnectProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *ConnectProxy) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	status := func(code int) {
		io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(code)+" "+http.StatusText(code)+"\r\nContent-Length: 0\r\n\r\n")
	}
	if req.Method != http.MethodConnect {
		p.forward(c, req, status)
		return
	}
	p.mu.Lock()
	p.connects = append(p.connects, req.Host)
	p.mu.Unlock()
	if p.User != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.Password))
		if req.Header.Get("Proxy-Authorization") != want {
			status(http.StatusProxyAuthRequired)
			return
		}
	}
	if p.Refuse != 0 {
		status(p.Refuse)
		return
	}
	to, ok := p.Routes[req.Host]
	if !ok {
		status(http.StatusBadGateway)
		return
	}
	up, err := net.DialTimeout("tcp", to, 5*time.Second)
	if err != nil {
		status(http.StatusBadGateway)
		return
	}
	p.track(up)
	defer up.Close()
	up.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); up.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// forward sends one absolute-form plain-http request on to its route and
// copies the answer back.
func (p *ConnectProxy) forward(c net.Conn, req *http.Request, status func(int)) {
	if req.URL.Host == "" || req.URL.Scheme != "http" {
		status(http.StatusMethodNotAllowed)
		return
	}
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	p.mu.Lock()
	p.forwards = append(p.forwards, host)
	p.mu.Unlock()
	if p.User != "" && req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.Password)) {
		status(http.StatusProxyAuthRequired)
		return
	}
	to, ok := p.Routes[host]
	if !ok || p.Refuse != 0 {
		status(http.StatusBadGateway)
		return
	}
	up, err := net.DialTimeout("tcp", to, 5*time.Second)
	if err != nil {
		status(http.StatusBadGateway)
		return
	}
	p.track(up)
	defer up.Close()
	up.SetDeadline(time.Now().Add(30 * time.Second))
	req.Header.Del("Proxy-Authorization")
	req.Close = true
	if err := req.Write(up); err != nil {
		status(http.StatusBadGateway)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(up), req)
	if err != nil {
		status(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	resp.Close = true
	resp.Write(c)
}
