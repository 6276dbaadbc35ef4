package app

import (
	"net"
	"net/http"
	"net/url"

	ingestrtmp "github.com/beffroi/beffroi/ingest/rtmp"
	"github.com/beffroi/beffroi/web/manage"
)

// publishURLs are the addresses a publisher uses for a stream, each with its key, as the
// console shows them right after the key is made: every ingest listener says its own (its
// PublicURL), on http.public_url's host when it is set, else on the host the operator's
// browser reached us by (a LAN; the answer is the operator's own, never cached for others).
// The go-live link carries the key in its fragment (#key=), which browsers never send: it
// stays out of proxies' access logs and Referer headers.
func (a *App) publishURLs(r *http.Request, stream, key string) manage.PublishURLs {
	base, host := a.publicBase(r)
	u := manage.PublishURLs{
		"go_live": base + "/go-live/" + stream + "#key=" + url.QueryEscape(key),
		"whip":    base + "/whip/" + stream,
	}
	for _, s := range a.ingest {
		u[s.protocol] = s.server.PublishURL(host, stream, key)
		if rs, ok := s.server.(*ingestrtmp.Server); ok && s.protocol == "rtmp" {
			u["obs_server"] = rs.ServerURL(host)
		}
	}
	return u
}

// publicURL is http.public_url, nil when unset (the configuration validated it).
func (a *App) publicURL() *url.URL {
	if pu, err := url.Parse(a.cfg.HTTP.PublicURL); err == nil && pu.Host != "" {
		return pu
	}
	return nil
}

// publicBase is the base URL of the HTTP links ("https://live.example.org", no trailing
// slash) and the host name of the other protocols' URLs: http.public_url's when set, else
// the request's.
func (a *App) publicBase(r *http.Request) (base, host string) {
	if pu := a.publicURL(); pu != nil {
		return pu.Scheme + "://" + pu.Host, pu.Hostname()
	}
	host = r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	scheme := "http"
	if r.TLS != nil || a.cfg.HTTP.SecureCookies {
		scheme = "https"
	}
	return scheme + "://" + r.Host, host
}

// defaultPublishURL is the RTMP publish URL logged once, when the default stream is made at
// first start ("" when RTMP is off: the key is then in the console only).
func (a *App) defaultPublishURL(key string) string {
	for _, s := range a.ingest {
		if s.protocol == "rtmp" {
			host := publicHost()
			if pu := a.publicURL(); pu != nil {
				host = pu.Hostname()
			}
			return s.server.PublishURL(host, manage.DefaultStream, key)
		}
	}
	return ""
}

// publicHost guesses the address a phone on the same network would use: the first
// non-loopback IPv4 address of this machine.
func publicHost() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "localhost"
}
