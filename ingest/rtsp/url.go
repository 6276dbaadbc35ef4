package rtsp

import (
	"net"
	"net/url"
	"strconv"
)

// PublishURL is the address an encoder publishes (RTSP ANNOUNCE/RECORD) stream's media to,
// with its publish key: rtsp://host:port/<stream>?key=<key>. host is the name or address
// publishers reach this machine by; the port is the listener's.
func (s *Server) PublishURL(host, stream, key string) string {
	port := "8554"
	if s.ln != nil {
		if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
			port = strconv.Itoa(a.Port)
		}
	} else if _, p, err := net.SplitHostPort(s.Addr); err == nil && p != "" && p != "0" {
		port = p
	}
	return "rtsp://" + net.JoinHostPort(host, port) + "/" + stream + "?key=" + url.QueryEscape(key)
}
