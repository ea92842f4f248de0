package diagnose

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
)

func (r *runner) checkURL(context.Context) Step {
	var opts []gitlab.URLOption
	if r.in.AllowInsecureHTTP {
		opts = append(opts, gitlab.AllowInsecureHTTP())
	}
	b, err := gitlab.NormalizeBaseURL(r.in.URL, opts...)
	if err != nil {
		var ue *gitlab.URLError
		if errors.As(err, &ue) {
			return Step{Status: Fail, Seen: ue.Error() + ".", Remedy: ue.Remedy()}
		}
		return Step{Status: Fail, Seen: "The URL cannot be used.", Remedy: "Enter the address you open GitLab with in a browser, for example https://gitlab.example.com."}
	}
	r.base = b
	r.report.URL = b.String()
	seen := "Using " + b.String()
	if b.IsGitLabCom() {
		seen += " (GitLab.com)"
	}
	if strings.TrimRight(strings.TrimSpace(r.in.URL), "/") != b.String() {
		seen += ", normalised from what was entered"
	}
	if u, err := url.Parse(b.APIURL()); err == nil {
		r.proxy = r.in.Proxy.Describe(u)
	}
	r.report.Proxy = r.proxy
	r.report.Insecure = b.Insecure()
	if r.proxy != "" {
		seen += "; GitLab is reached through the proxy " + r.proxy
	}
	switch {
	case b.Insecure():
		return Step{Status: Warn, Seen: seen + "; plain http to a host that is not this machine, accepted only because the connection opted in to insecure http: the token crosses the network unencrypted.",
			Remedy: "Serve GitLab over https (even with a certificate from your own CA, given in the CA field) and switch the insecure-http opt-in off."}
	case b.Scheme() == "http":
		seen += "; plain http is accepted only because the host is this machine"
	}
	return Step{Status: Pass, Seen: seen + "."}
}

func (r *runner) checkDNS(ctx context.Context) Step {
	host := r.base.Hostname()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		octx, cancel := r.opCtx(ctx)
		start := time.Now()
		ips, err = r.res.LookupNetIP(octx, "ip", host)
		cancel()
		if err != nil {
			s := dnsFailure(host, err, time.Since(start))
			if r.proxy != "" {
				s.Remedy = "labsync resolves GitLab's host name itself, even when it connects through the proxy " + r.proxy + ", so that its address policy still applies. " + s.Remedy
			}
			return s
		}
		if len(ips) == 0 {
			return Step{Status: Fail, Kind: gitlab.KindDNS, Seen: host + " resolves to no address.", Remedy: dnsRemedy}
		}
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
	}
	var allowed, refused []string
	var firstRefusal *gitlab.AddressRefusedError
	for _, ip := range ips {
		if err := r.in.Policy.Check(ip); err != nil {
			refused = append(refused, ip.String())
			if firstRefusal == nil {
				errors.As(err, &firstRefusal)
			}
			continue
		}
		allowed = append(allowed, ip.String())
		r.addrs = append(r.addrs, ip)
	}
	var seen string
	if _, err := netip.ParseAddr(host); err == nil {
		seen = fmt.Sprintf("%s is an IP address; no lookup needed.", host)
	} else {
		seen = fmt.Sprintf("%s resolves to %s.", host, joinAddrs(ips))
	}
	switch {
	case len(allowed) == 0 || (r.proxy != "" && len(refused) > 0):
		// Through a proxy every address must be allowed: the proxy, not
		// labsync, picks the one it connects to.
		s := Step{Status: Fail, Kind: gitlab.KindAddressRefused, Seen: seen + " " + firstRefusal.Error() + "."}
		if r.proxy != "" {
			s.Seen += " labsync checks GitLab's addresses before it asks the proxy for a tunnel, and asks for none while one of them is refused."
		}
		s.Remedy = firstRefusal.Remedy()
		return s
	case len(refused) > 0:
		return Step{Status: Warn, Kind: gitlab.KindAddressRefused,
			Seen:   fmt.Sprintf("%s labsync will not connect to %s (%s) and uses %s.", seen, strings.Join(refused, ", "), firstRefusal.Rule, strings.Join(allowed, ", ")),
			Remedy: firstRefusal.Remedy()}
	}
	if r.proxy != "" {
		seen += " labsync checked these against its address policy, as it does before each tunnel through the proxy."
	}
	return Step{Status: Pass, Seen: seen}
}

const dnsRemedy = "Check the spelling of the host name. Check that it resolves from where labsync runs — on that machine, or inside its container or pod (nslookup, dig) — not only from your laptop: internal names need the company DNS (in Kubernetes, CoreDNS must forward the internal zone)."

func dnsFailure(host string, err error, took time.Duration) Step {
	s := Step{Status: Fail, Kind: gitlab.KindDNS, Remedy: dnsRemedy}
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		s.Seen = fmt.Sprintf("%s does not exist in DNS (NXDOMAIN).", host)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &de) && de.IsTimeout):
		s.Seen = fmt.Sprintf("No DNS answer for %s within %s: the DNS server is unreachable or slow (a temporary failure).", host, took.Round(time.Millisecond))
		s.Remedy = "Check the DNS servers configured where labsync runs (/etc/resolv.conf, the pod's DNS policy) and that outbound DNS (UDP and TCP 53) is allowed. " + dnsRemedy
	case errors.As(err, &de):
		s.Seen = fmt.Sprintf("Looking up %s failed temporarily: %s.", host, de.Err)
		s.Remedy = "Try again; if it persists, check the DNS servers configured where labsync runs. " + dnsRemedy
	default:
		s.Seen = fmt.Sprintf("Looking up %s failed.", host)
	}
	return s
}

func joinAddrs(ips []netip.Addr) string {
	parts := make([]string, 0, len(ips))
	for _, ip := range ips {
		parts = append(parts, ip.String())
	}
	return strings.Join(parts, ", ")
}

func (r *runner) checkTCP(ctx context.Context) Step {
	if r.proxy != "" {
		return r.checkProxyTunnel(ctx)
	}
	port := r.base.Port()
	d := &net.Dialer{Timeout: r.in.Timeout, Control: r.in.Policy.Control}
	var lastErr error
	var lastAddr string
	var took time.Duration
	for i, ip := range r.addrs {
		if i == 4 {
			break
		}
		addr := net.JoinHostPort(ip.String(), port)
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		took = time.Since(start)
		if err == nil {
			r.conn = c
			return Step{Status: Pass, Seen: fmt.Sprintf("Connected to %s in %s.", addr, roundDur(took))}
		}
		lastErr, lastAddr = err, addr
	}
	if lastErr == nil {
		return Step{Status: Fail, Kind: gitlab.KindAddressRefused, Seen: "No address of the host may be connected to.", Remedy: "See the name resolution step."}
	}
	ae := gitlab.ClassifyError(lastErr)
	s := Step{Status: Fail, Kind: ae.Kind, Remedy: ae.Remedy()}
	switch ae.Kind {
	case gitlab.KindRefused:
		s.Seen = fmt.Sprintf("%s refused the connection: nothing listens on port %s there, or a firewall rejects it.", lastAddr, port)
	case gitlab.KindTimeout:
		s.Seen = fmt.Sprintf("No answer from %s within %s: a firewall or network policy silently drops the connection, or there is no route to it.", lastAddr, roundDur(took))
		s.Remedy = fmt.Sprintf("Allow outbound TCP to %s port %s from where labsync runs (firewalls, security groups, Kubernetes network policies, egress proxies). ", r.base.Hostname(), port) + ae.Remedy()
	case gitlab.KindAddressRefused:
		s.Seen = ae.Detail + "."
	default:
		s.Seen = fmt.Sprintf("Connecting to %s failed: %v.", lastAddr, errorText(lastErr))
	}
	return s
}

// checkProxyTunnel connects to the proxy and asks it for a tunnel to GitLab,
// over which the TLS step then talks to GitLab itself.
func (r *runner) checkProxyTunnel(ctx context.Context) Step {
	target := net.JoinHostPort(r.base.Hostname(), r.base.Port())
	if r.base.Scheme() != "https" {
		return Step{Status: Pass, Seen: fmt.Sprintf("Plain http goes through the proxy %s, which forwards each request itself (no tunnel); the API step checks the way.", r.proxy)}
	}
	u, err := url.Parse(r.base.APIURL())
	if err != nil {
		return Step{Status: Fail, Kind: gitlab.KindUnexpected, Seen: "The URL cannot be used."}
	}
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	start := time.Now()
	c, _, err := r.in.Proxy.Tunnel(octx, &net.Dialer{Timeout: r.in.Timeout}, u, target, r.in.CAPEM)
	took := time.Since(start)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		msg := err.Error()
		s := Step{Status: Fail, Kind: ae.Kind, Seen: strings.ToUpper(msg[:1]) + msg[1:] + ".", Remedy: ae.Remedy()}
		if ae.Kind == gitlab.KindTimeout {
			s.Kind = gitlab.KindProxyUnreachable
			s.Seen = fmt.Sprintf("The proxy %s did not answer within %s.", r.proxy, roundDur(took))
		}
		return s
	}
	r.conn = c
	return Step{Status: Pass, Seen: fmt.Sprintf("Connected to the proxy %s, which opened a tunnel to %s, in %s.", r.proxy, target, roundDur(took))}
}

func roundDur(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// errorText returns the innermost useful message of a network error.
func errorText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

func (r *runner) checkTLS(ctx context.Context) Step {
	if r.base.Scheme() != "https" {
		r.closeConn()
		return Step{Status: Skip, Seen: "The URL uses plain http, so there is no TLS to check."}
	}
	conf, err := gitlab.TLSConfig(r.in.CAPEM)
	if err != nil {
		r.closeConn()
		return Step{Status: Fail, Kind: gitlab.KindTLSOther, Seen: "The CA certificate given cannot be used: " + err.Error() + ".",
			Remedy: "Give a PEM file with the CA certificate (or certificates) that signed GitLab's certificate: text blocks starting with -----BEGIN CERTIFICATE-----."}
	}
	host := r.base.Hostname()
	conf.ServerName = host
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	tc := tls.Client(r.conn, conf)
	err = tc.HandshakeContext(octx)
	r.closeConn()
	if err == nil {
		state := tc.ConnectionState()
		leaf := state.PeerCertificates[0]
		seen := fmt.Sprintf("%s, verified. %s", tls.VersionName(state.Version), describeCert(leaf))
		if r.proxy != "" {
			seen = "Through the proxy's tunnel, end to end with GitLab: " + seen
		}
		if viaCA(state.VerifiedChains, r.in.CAPEM) {
			seen += " Trusted through the CA certificate given."
		}
		left := time.Until(leaf.NotAfter)
		if left < 14*24*time.Hour {
			return Step{Status: Warn, Kind: gitlab.KindTLSExpired,
				Seen:   seen + fmt.Sprintf(" It expires in %d days.", int(left.Hours()/24)),
				Remedy: "Renew GitLab's certificate before it expires; labsync stops connecting the moment it does."}
		}
		return Step{Status: Pass, Seen: seen}
	}
	s := tlsFailure(err, host, r.in.CAPEM)
	if r.proxy != "" {
		s.Seen = "TLS through the proxy " + r.proxy + " to GitLab failed. " + s.Seen
		if s.Kind == gitlab.KindTLSUnknownAuthority || s.Kind == gitlab.KindTLSSelfSigned || s.Kind == gitlab.KindTLSHostMismatch {
			s.Remedy += " If the proxy inspects TLS (it then shows its own certificate for every site), give its CA certificate as the CA, or ask for GitLab to be exempt from inspection."
		}
	}
	return s
}

// viaCA reports whether a verified chain ends at a certificate from caPEM.
func viaCA(chains [][]*x509.Certificate, caPEM []byte) bool {
	cas, _ := gitlab.ParseCAPEM(caPEM)
	for _, ch := range chains {
		root := ch[len(ch)-1]
		for _, ca := range cas {
			if root.Equal(ca) {
				return true
			}
		}
	}
	return false
}

func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("Certificate: subject %q, issuer %q, names %s, valid %s to %s.",
		c.Subject.String(), c.Issuer.String(), gitlab.CertNames(c),
		c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
}

// tlsFailure explains a failed handshake. Go stops at the first problem it
// finds (validity, then host name, then authority); the presented
// certificate is checked for every problem so the user can fix them at once.
func tlsFailure(err error, host string, caPEM []byte) Step {
	ae := gitlab.ClassifyError(err)
	leaf := gitlab.PresentedCertificate(err)
	if leaf == nil {
		s := Step{Status: Fail, Kind: ae.Kind, Remedy: ae.Remedy()}
		switch ae.Kind {
		case gitlab.KindTimeout:
			s.Seen = "The TLS handshake did not finish in time: the port accepts connections but does not speak TLS, or a middlebox stalls it."
			s.Remedy = "Check that the port serves HTTPS (443 unless GitLab is configured otherwise) and that nothing in between intercepts TLS."
		default:
			if ae.Detail != "" {
				s.Seen = "The TLS handshake failed: " + ae.Detail + "."
			} else {
				s.Seen = "The TLS handshake failed: " + ae.Error() + "."
			}
		}
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) {
			s.Remedy = "The port answered in plain HTTP, not HTTPS: use GitLab's HTTPS port (443 unless configured otherwise), or http:// only when GitLab runs on this machine."
		}
		return s
	}
	var intermediates []*x509.Certificate
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 1 {
		intermediates = cve.UnverifiedCertificates[1:]
	}
	type problem struct {
		kind   gitlab.Kind
		seen   string
		remedy string
	}
	var problems []problem
	now := time.Now()
	if now.After(leaf.NotAfter) {
		problems = append(problems, problem{gitlab.KindTLSExpired,
			fmt.Sprintf("The certificate expired on %s.", leaf.NotAfter.UTC().Format(time.RFC3339)),
			"Renew the certificate on the GitLab server, or on the proxy that terminates TLS in front of it."})
	} else if now.Before(leaf.NotBefore) {
		problems = append(problems, problem{gitlab.KindTLSExpired,
			fmt.Sprintf("The certificate is not valid until %s.", leaf.NotBefore.UTC().Format(time.RFC3339)),
			"Check the clocks of the GitLab server and of the machine labsync runs on (NTP); if they are right, install a certificate that is already valid."})
	}
	if herr := leaf.VerifyHostname(host); herr != nil {
		problems = append(problems, problem{gitlab.KindTLSHostMismatch,
			fmt.Sprintf("The certificate covers %s, not %s.", gitlab.CertNames(leaf), host),
			"Use one of the names the certificate covers in the URL, or have the certificate reissued with this host name as a subject alternative name."})
	}
	if gitlab.IsSelfSigned(leaf) && !trusted(leaf, nil, caPEM) {
		problems = append(problems, problem{gitlab.KindTLSSelfSigned,
			"The certificate is self-signed: it vouches for itself and no authority labsync trusts signed it.",
			"Best: give GitLab a certificate from your organisation's CA or a public CA. Otherwise add this very certificate (PEM) as the CA: --ca-file for labsync doctor, or the connection's CA field. labsync never turns verification off."})
	} else if !trusted(leaf, intermediates, caPEM) {
		problems = append(problems, problem{gitlab.KindTLSUnknownAuthority,
			fmt.Sprintf("The certificate was issued by %q, an authority labsync does not trust.", leaf.Issuer.String()),
			"Add your CA: give the certificate of the CA that issued GitLab's certificate (PEM) with --ca-file for labsync doctor, or in the connection's CA field. If GitLab sends no intermediate certificates, configure it to send the full chain. labsync never turns verification off."})
	}
	s := Step{Status: Fail, Kind: ae.Kind}
	if len(problems) == 0 {
		s.Seen = "The certificate was refused: " + ae.Error() + ". " + describeCert(leaf)
		s.Remedy = ae.Remedy()
		return s
	}
	var seen, remedy []string
	for _, p := range problems {
		seen = append(seen, p.seen)
		remedy = append(remedy, p.remedy)
	}
	// Name the problem Go reported first, else the first one found.
	found := false
	for _, p := range problems {
		if p.kind == ae.Kind {
			found = true
		}
	}
	if !found {
		s.Kind = problems[0].kind
	}
	s.Seen = strings.Join(seen, " ") + " " + describeCert(leaf)
	s.Remedy = strings.Join(remedy, " ")
	return s
}

// trusted reports whether leaf chains to the system roots or caPEM, ignoring
// its validity dates and host name (those are judged separately): it tries
// several moments within the leaf's lifetime, and accepts a leaf signed
// directly by a certificate from caPEM.
func trusted(leaf *x509.Certificate, intermediates []*x509.Certificate, caPEM []byte) bool {
	conf, err := gitlab.TLSConfig(caPEM)
	if err != nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	for _, at := range []time.Time{time.Now(), leaf.NotBefore.Add(life / 2), leaf.NotBefore.Add(time.Minute), leaf.NotAfter.Add(-time.Minute)} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: conf.RootCAs, Intermediates: inter, CurrentTime: at}); err == nil {
			return true
		}
	}
	cas, _ := gitlab.ParseCAPEM(caPEM)
	for _, ca := range append(cas, intermediates...) {
		if leaf.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

func (r *runner) checkHTTP(ctx context.Context) Step {
	c, err := gitlab.New(gitlab.Options{BaseURL: r.base, CAPEM: r.in.CAPEM, Policy: r.in.Policy, Timeout: r.in.Timeout, UserAgent: "labsync-doctor",
		Proxy: r.in.Proxy, Resolver: r.clientResolver(), AllowInsecureHTTP: r.in.AllowInsecureHTTP})
	if err != nil {
		return Step{Status: Fail, Kind: gitlab.KindUnexpected, Seen: err.Error() + ".", Remedy: "Fix the settings named above."}
	}
	hc := *c.HTTP()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer hc.CloseIdleConnections()
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	target := r.base.APIURL() + "/version"
	req, err := http.NewRequestWithContext(octx, http.MethodGet, target, nil)
	if err != nil {
		return Step{Status: Fail, Kind: gitlab.KindUnexpected, Seen: "Cannot build a request for " + target + "."}
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		s := Step{Status: Fail, Kind: ae.Kind, Remedy: ae.Remedy()}
		if ae.Kind == gitlab.KindTimeout {
			s.Seen = fmt.Sprintf("GET %s got no answer within %s: the port accepts connections but nothing answers — a stalled proxy or load balancer, the wrong port, or an overloaded GitLab.", target, roundDur(time.Since(start)))
			s.Remedy = "Check that the URL's port is GitLab's web port and that a proxy or load balancer in front of GitLab forwards to a healthy GitLab; from labsync's host, try curl -v " + target + "."
		} else {
			s.Seen = fmt.Sprintf("GET %s failed: %s.", target, ae.Error())
		}
		return s
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ctype := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ctype)
	what := fmt.Sprintf("GET %s answered %s", target, resp.Status)
	if ctype != "" {
		what += " (" + mt + ")"
	}
	var obj map[string]any
	isJSON := strings.Contains(mt, "json") && jsonObject(body, &obj)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && isJSON && (obj["message"] != nil || obj["error"] != nil):
		return Step{Status: Pass, Seen: what + ", as GitLab does without a token: this is GitLab's API."}
	case resp.StatusCode == http.StatusOK && isJSON && obj["version"] != nil:
		return Step{Status: Pass, Seen: what + fmt.Sprintf(" with version %v: this is GitLab's API.", obj["version"])}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc := resp.Header.Get("Location")
		s := Step{Status: Fail, Kind: gitlab.KindUnexpected,
			Seen: fmt.Sprintf("%s, redirecting to %s. GitLab's API does not redirect; something in front of it does.", what, safeLocation(loc))}
		if u, err := url.Parse(loc); err == nil && u.Scheme == "https" && r.base.Scheme() == "http" && strings.EqualFold(u.Hostname(), r.base.Hostname()) {
			s.Remedy = "Use the https:// address."
		} else {
			s.Remedy = "A sign-on portal or proxy stands in front of GitLab. labsync must reach GitLab's API directly: use GitLab's own address, or ask for /api/v4 and /oauth to be exempt from the portal."
		}
		return s
	}
	s := Step{Status: Fail, Kind: gitlab.KindUnexpected}
	if title := gitlab.HTMLTitle(ctype, body); title != "" {
		what += fmt.Sprintf(" with an HTML page titled %q", title)
	} else if mt == "text/html" {
		what += " with an HTML page"
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		s.Kind = gitlab.KindNotFound
		s.Seen = what + ": there is no GitLab API at this address."
		s.Remedy = "Check the path of the URL: if GitLab is served below a path (https://host/gitlab) include it, otherwise leave any path out. Check that the host is GitLab and not another web server."
	case resp.StatusCode >= 500:
		s.Kind = gitlab.KindServerError
		s.Seen = what + ": the server or a proxy in front of it has a problem."
		s.Remedy = "If a proxy answered (502/503/504), GitLab behind it is down or unreachable from the proxy; ask GitLab's administrator to check it (gitlab-ctl status, /-/readiness)."
	default:
		s.Seen = what + ": this does not look like GitLab's API — a proxy, a sign-on portal or another web server answered."
		s.Remedy = "Check that the URL is the address of GitLab itself (what you open in a browser, without /users/sign_in). If a proxy or sign-on portal sits in front, labsync needs a route to GitLab's API that bypasses it."
	}
	return s
}

func safeLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "an unreadable address"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
