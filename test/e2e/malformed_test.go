package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// TestMalformedInput sends garbage to the RTMP port (from the first byte, after a valid
// handshake, after an authenticated publish) and opens a connection that says nothing, while
// a real broadcast goes on: the broadcast is unaffected, the API answers, the log says what
// happened to each bad connection.
func TestMalformedInput(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	n := startNginx(t)
	const otherKey = "other-publish-key"
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.Streams = append(c.Streams, config.Stream{Name: "other", PublishKey: otherKey})
	})
	const seconds = 8.0
	pub := publish(t, t.Context(), b.PublishURL(publishKey), clip, seconds)
	waitStream(t, b, "event", "live", 10*time.Second)
	waitDest(t, b, "event", "nginx1", outputs.StateLive, 10*time.Second)

	garbage := make([]byte, 64*1024)
	_, _ = rand.Read(garbage)
	garbage[0] = 0xff // not RTMP version 3

	// Garbage from the first byte.
	c1 := dialRTMP(t, b)
	if _, err := c1.Write(garbage); err != nil {
		t.Logf("writing garbage: %v (the server may have hung up already)", err)
	}
	drain(c1)
	c1.Close()

	// A plain handshake, then garbage instead of RTMP chunks.
	c2 := dialRTMP(t, b)
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	_, _ = rand.Read(c0c1[9:]) // time and zero fields stay 0: a plain (not digest) handshake
	if _, err := c2.Write(c0c1); err != nil {
		t.Fatal(err)
	}
	s0s1s2 := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c2, s0s1s2); err != nil {
		t.Fatalf("handshake: reading S0S1S2: %v", err)
	}
	if s0s1s2[0] != 3 {
		t.Errorf("handshake: S0 is version %d, want 3", s0s1s2[0])
	}
	if _, err := c2.Write(s0s1s2[1 : 1+1536]); err != nil { // C2 echoes S1
		t.Fatal(err)
	}
	if _, err := c2.Write(garbage[1:]); err != nil {
		t.Logf("writing garbage after the handshake: %v", err)
	}
	drain(c2)
	c2.Close()

	// A connection that says nothing at all and goes away.
	c3 := dialRTMP(t, b)
	c3.Close()

	// An encoder with a valid key (of another stream) that sends garbage once publishing.
	u, _ := url.Parse("rtmp://" + b.RTMPAddr() + "/live/" + otherKey)
	client := &gortmplib.Client{URL: u, Publish: true}
	if err := client.Initialize(t.Context()); err != nil {
		t.Fatalf("gortmplib publish to the other stream: %v", err)
	}
	c4 := client.NetConn()
	if _, err := c4.Write(garbage); err != nil {
		t.Logf("writing garbage after publish: %v", err)
	}
	drain(c4)
	client.Close()

	for _, c := range []struct {
		conn net.Conn
		what string
	}{
		{c1, "garbage before the handshake"}, {c2, "garbage after the handshake"},
		{c3, "silent connection"}, {c4, "garbage from an authenticated publisher"},
	} {
		remote := "remote=" + c.conn.LocalAddr().String()
		testutil.Eventually(t, 5*time.Second, func() error {
			if len(b.Logs.Lines(remote, "level=WARN")) == 0 {
				return fmt.Errorf("no warning about the %s (%s)", c.what, remote)
			}
			return nil
		})
		t.Logf("%s: %s", c.what, b.Logs.Lines(remote)[0])
	}

	if v := apiStream(t, b, "other"); v.Live {
		t.Errorf("the stream fed garbage is live: %+v", v)
	}
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), otherKey, publishKey)

	v := apiStream(t, b, "event")
	if !v.Live || v.Publishes != 1 {
		t.Errorf("the broadcast after the garbage: live=%v publishes=%d", v.Live, v.Publishes)
	}
	if _, err := b.get("/healthz"); err != nil {
		t.Errorf("healthz: %v", err)
	}
	if err := pub.Wait(t, 20*time.Second); err != nil {
		t.Fatalf("publisher: %v\n%s", err, pub.stderr.String())
	}
	if s, _ := destStatus(b, "event", "nginx1"); s.Reconnects != 0 || s.Skipped != 0 {
		t.Errorf("destination disturbed: %+v", s)
	}
	missed := missedStart(t, b, "event", "nginx1")["nginx1"]
	b.Stop(t)
	rec := singleRecording(t, n)
	checkRecording(t, rec, 1280, 720, seconds-missed, 1.5)
	assertIncreasing(t, rec, packetDTS(t, rec, "v"))
}

// dialRTMP opens a raw TCP connection to Beffroi's RTMP port.
func dialRTMP(t *testing.T, b *beffroi) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.RTMPAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// drain reads what the server still sends, for a moment, so that closing does not reset the
// connection before the server read our bytes.
func drain(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, c)
}
