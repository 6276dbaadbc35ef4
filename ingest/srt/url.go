package srt

import (
	"net"
	"strconv"
)

// PublishURL is the address an encoder publishes stream's media to, with its publish key:
// srt://host:port?streamid=publish:<stream>:<key>. host is the name or address publishers
// reach this machine by; the port is the listener's.
func (s *Server) PublishURL(host, stream, key string) string {
	port := "8890"
	if s.ln != nil {
		if a, ok := s.ln.Addr().(*net.UDPAddr); ok {
			port = strconv.Itoa(a.Port)
		}
	} else if _, p, err := net.SplitHostPort(s.Addr); err == nil && p != "" && p != "0" {
		port = p
	}
	return "srt://" + net.JoinHostPort(host, port) + "?streamid=publish:" + stream + ":" + key
}
