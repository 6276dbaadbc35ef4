package srt

import (
	"net"

	"github.com/beffroi/beffroi/ingest/internal/listenaddr"
)

// PublishURL is the address an encoder publishes stream's media to, with its publish key:
// srt://host:port?streamid=publish:<stream>:<key>. host is the name or address publishers
// reach this machine by; the port is the listener's.
func (s *Server) PublishURL(host, stream, key string) string {
	var bound net.Addr
	if s.ln != nil {
		bound = s.ln.Addr()
	}
	return "srt://" + net.JoinHostPort(host, listenaddr.Port(bound, s.Addr, 8890)) + "?streamid=publish:" + stream + ":" + key
}
