package rtsp

import (
	"net"
	"net/url"

	"github.com/beffroi/beffroi/ingest/internal/listenaddr"
)

// PublishURL is the address an encoder publishes (RTSP ANNOUNCE/RECORD) stream's media to,
// with its publish key: rtsp://host:port/<stream>?key=<key>. host is the name or address
// publishers reach this machine by; the port is the listener's.
func (s *Server) PublishURL(host, stream, key string) string {
	var bound net.Addr
	if s.ln != nil {
		bound = s.ln.Addr()
	}
	return "rtsp://" + net.JoinHostPort(host, listenaddr.Port(bound, s.Addr, 8554)) + "/" + stream + "?key=" + url.QueryEscape(key)
}
