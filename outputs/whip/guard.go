package whip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// sessionURL returns the session's URL from the answer's Location (RFC 9725 4.2: relative to
// the endpoint, or absolute). It must be on the endpoint's origin: the DELETE that ends the
// session carries the bearer token, which belongs to the endpoint's server only.
func sessionURL(endpoint *url.URL, location string) (string, error) {
	if location == "" {
		return "", errors.New("the answer has no Location header")
	}
	lu, err := endpoint.Parse(location)
	if err != nil {
		return "", errors.New("invalid Location header")
	}
	if lu.Scheme != endpoint.Scheme || origin(lu) != origin(endpoint) {
		return "", fmt.Errorf("the answer's Location is on another origin (%s://%s), refused: the session must stay on the endpoint's server",
			lu.Scheme, lu.Host)
	}
	lu.User, lu.Fragment, lu.RawFragment = nil, "", ""
	return lu.String(), nil
}

// origin is scheme, host and port, with the scheme's default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// mediaCandidates removes from an answer the ICE candidates the guard refuses (an endpoint
// must not be able to point the media at a private address, the way a URL cannot), and the
// mDNS ones (.local names stand for addresses of the local network) unless private addresses
// are allowed. An answer whose candidates are all refused is an error naming the first one.
func (p *Pusher) mediaCandidates(sdp string) (string, error) {
	lines := strings.SplitAfter(sdp, "\n")
	kept, total := 0, 0
	var first error
	out := lines[:0]
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "a=candidate:"); ok {
			total++
			if err := p.checkCandidate(rest); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			kept++
		}
		out = append(out, l)
	}
	if total > 0 && kept == 0 {
		return "", fmt.Errorf("the endpoint's media addresses are all refused: %w", first)
	}
	return strings.Join(out, ""), nil
}

// checkCandidate checks the address of an a=candidate attribute's value
// ("foundation component transport priority address port typ ...").
func (p *Pusher) checkCandidate(c string) error {
	f := strings.Fields(c)
	if len(f) < 6 {
		return errors.New("malformed candidate")
	}
	a, err := netip.ParseAddr(f[4])
	if err != nil {
		if p.guard.AllowPrivate {
			return nil // an mDNS name: resolved on the local network, which is allowed
		}
		return fmt.Errorf("candidate %q is a local-network (mDNS) name: allowed only with allow_private", f[4])
	}
	return p.guard.Check(a)
}
