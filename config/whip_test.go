package config

import (
	"strings"
	"testing"
)

// TestWHIPDestinationURLs: WHIP endpoints are destinations, with their token in the query or
// as the userinfo's password.
func TestWHIPDestinationURLs(t *testing.T) {
	for _, ok := range []string{
		"whip+https://ingest.example.org/whip/concert?token=s3cret",
		"whip+http://10.0.0.2:8080/whip/concert?token=s3cret",
		"whip+https://beffroi:s3cret@ingest.example.org/rtc/v1/whip/?app=live&stream=x",
	} {
		if msg := checkDestinationURL(ok); msg != "" {
			t.Errorf("checkDestinationURL(%s): %s", ok, msg)
		}
	}
	for _, bad := range []string{"whip+https:///whip/x?token=s3cret", "whip+https://host/?token=s3cret", "whip://host/whip/x"} {
		if msg := checkDestinationURL(bad); msg == "" {
			t.Errorf("checkDestinationURL(%s) accepted it", bad)
		}
	}
}

// TestWebRTCTCPPort: webrtc.tcp_port is a port, 0 (any free port) or -1 (ICE-TCP off).
func TestWebRTCTCPPort(t *testing.T) {
	if Default().WebRTC.TCPPort != 8189 {
		t.Errorf("default webrtc.tcp_port %d, want 8189", Default().WebRTC.TCPPort)
	}
	for port, ok := range map[int]bool{-2: false, -1: true, 0: true, 8189: true, 65536: false} {
		c := Default()
		c.WebRTC.TCPPort = port
		err := c.Validate()
		if ok && err != nil {
			t.Errorf("tcp_port %d: %v", port, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "webrtc.tcp_port")) {
			t.Errorf("tcp_port %d: %v, want an error naming webrtc.tcp_port", port, err)
		}
	}
}
