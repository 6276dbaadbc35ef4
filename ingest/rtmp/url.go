package rtmp

import (
	"net"

	"github.com/beffroi/beffroi/ingest/internal/listenaddr"
)

// PublishURL is the address an encoder publishes stream's media to, with its publish key:
// rtmp://host:port/live/<key> (rtmps:// on a TLS listener). RTMP names the stream by its key
// alone, so stream is not part of it. host is the name or address publishers reach this
// machine by; the port is the listener's.
func (s *Server) PublishURL(host, _, key string) string {
	return s.ServerURL(host) + "/" + key
}

// ServerURL is what OBS asks for as "Server" (rtmp://host:port/live); the publish key goes in
// its "Stream Key" field.
func (s *Server) ServerURL(host string) string {
	scheme, def := "rtmp", 1935
	if s.TLSConfig != nil {
		scheme, def = "rtmps", 1936
	}
	return scheme + "://" + net.JoinHostPort(host, s.port(def)) + "/" + App
}

// port is the listener's port, or the configured one before Listen, or def.
func (s *Server) port(def int) string {
	var bound net.Addr
	if s.ln != nil {
		bound = s.ln.Addr()
	}
	return listenaddr.Port(bound, s.Addr, def)
}
