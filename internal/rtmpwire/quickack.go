package rtmpwire

import "net"

// QuickAck switches quick acknowledgements on or off for the reads that follow (Linux; a
// no-op elsewhere and on connections that are not TCP). An RTMP connect is a handful of
// small request/answer exchanges: a server that writes its answer in several segments
// without TCP_NODELAY (nginx-rtmp answers connect with three) sends the second one only once
// the first is acknowledged, and the kernel delays that acknowledgement by 40 ms. Pushers
// turn it on for the connect and off once the session is set up.
func (c *Conn) QuickAck(on bool) { c.quickAck.Store(on) }

// Read reads from the connection, first asking the kernel to acknowledge what comes next at
// once while QuickAck is on (the kernel clears the request by itself, hence on every read).
func (c *Conn) Read(p []byte) (int, error) {
	if c.quickAck.Load() {
		quickAck(c.Conn)
	}
	return c.Conn.Read(p)
}

// tcpOf returns the TCP connection under c (under TLS too), or nil.
func tcpOf(c net.Conn) *net.TCPConn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	tcp, _ := c.(*net.TCPConn)
	return tcp
}
