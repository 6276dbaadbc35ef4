package app

import (
	"fmt"
	"net"
	"net/http"
	"net/url"

	ingestrtmp "github.com/beffroi/beffroi/ingest/rtmp"
	"github.com/beffroi/beffroi/web/manage"
)

// publishURLs are the addresses a publisher uses for a stream, each with its key, as the
// console shows them right after the key is made: every ingest listener says its own (its
// PublishURL), on the host the operator's browser reached us by.
func (a *App) publishURLs(r *http.Request, stream, key string) manage.PublishURLs {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	scheme := "http"
	if r.TLS != nil || a.cfg.HTTP.SecureCookies {
		scheme = "https"
	}
	u := manage.PublishURLs{
		"go_live": fmt.Sprintf("%s://%s/go-live/%s?key=%s", scheme, r.Host, stream, url.QueryEscape(key)),
		"whip":    fmt.Sprintf("%s://%s/whip/%s", scheme, r.Host, stream),
	}
	for _, s := range a.ingest {
		u[s.protocol] = s.server.PublishURL(host, stream, key)
		if rs, ok := s.server.(*ingestrtmp.Server); ok && s.protocol == "rtmp" {
			u["obs_server"] = rs.ServerURL(host)
		}
	}
	return u
}

// defaultPublishURL is the RTMP publish URL logged once, when the default stream is made at
// first start ("" when RTMP is off: the key is then in the console only).
func (a *App) defaultPublishURL(key string) string {
	for _, s := range a.ingest {
		if s.protocol == "rtmp" {
			return s.server.PublishURL(publicHost(), manage.DefaultStream, key)
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
