// Package listenaddr says which port an ingest listener's publish URLs carry.
package listenaddr

import (
	"net"
	"strconv"
)

// Port is the port of bound (the listener's address, nil before Listen), else the port of
// configured (the listen address of the configuration, unless it is 0), else def.
func Port(bound net.Addr, configured string, def int) string {
	switch a := bound.(type) {
	case *net.TCPAddr:
		return strconv.Itoa(a.Port)
	case *net.UDPAddr:
		return strconv.Itoa(a.Port)
	}
	if _, p, err := net.SplitHostPort(configured); err == nil && p != "" && p != "0" {
		return p
	}
	return strconv.Itoa(def)
}
