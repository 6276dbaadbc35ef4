package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/app"
	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	outrtmp "github.com/beffroi/beffroi/outputs/rtmp"
)

// trustForHost makes an App's RTMPS destinations to host trust pool (instead of the system
// roots).
func trustForHost(host string, pool *x509.CertPool) app.Option {
	return app.WithPusher("rtmps", func(u *url.URL, o outputs.Options) (outputs.Pusher, error) {
		ps, err := outrtmp.NewPusher(u, o)
		if err != nil {
			return nil, err
		}
		if u.Hostname() == host {
			ps.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		return ps, nil
	})
}

// TestRTMPS publishes over RTMPS to a first Beffroi, which pushes the stream "event" to an
// nginx over RTMP, and the stream "cam" to a second Beffroi over RTMPS (verifying its
// certificate); a third destination to the second Beffroi, whose certificate the pusher does
// not trust, must fail on the certificate.
func TestRTMPS(t *testing.T) {
	requirePeers(t)
	clip := makeClip(t)
	certFile, keyFile, pool := testutil.SelfSignedFiles(t)
	withTLS := func(c *config.Config) {
		c.RTMPS.Addr, c.RTMPS.Cert, c.RTMPS.Key = "127.0.0.1:0", certFile, keyFile
	}
	const secondKey, camKey = "second-publish-key", "cam-publish-key"
	second := startNamedBeffroi(t, "second", func(c *config.Config) {
		withTLS(c)
		c.RTMP.Read = true
		c.Streams = []config.Stream{{Name: "relay", PublishKey: secondKey}}
	})
	_, port2, _ := net.SplitHostPort(second.RTMPSAddr())
	n := startNginx(t)
	const nginxKey = "key-rec-31ab5e"
	first := startNamedBeffroi(t, "first", func(c *config.Config) {
		withTLS(c)
		c.Streams[0].Destinations = []config.Destination{{Name: "nginx", URL: n.URL(nginxKey)}}
		c.Streams = append(c.Streams, config.Stream{Name: "cam", PublishKey: camKey,
			Destinations: []config.Destination{
				{Name: "second", URL: "rtmps://127.0.0.1:" + port2 + "/live/" + secondKey},
				{Name: "untrusted", URL: "rtmps://localhost:" + port2 + "/live/" + secondKey},
			}})
	}, trustForHost("127.0.0.1", pool))
	secrets := []string{publishKey, secondKey, nginxKey, camKey}

	// (a) RTMPS ingest.
	const seconds = 8.0
	pub := publish(t, t.Context(), "rtmps://"+first.RTMPSAddr()+"/live/"+publishKey, clip, seconds)
	// Long enough for the play below to get its 3 s whatever the machine's load: killed then.
	cam := publish(t, t.Context(), "rtmps://"+first.RTMPSAddr()+"/live/"+camKey, clip, 60)
	for _, name := range []string{"event", "cam"} {
		v := waitStream(t, first, name, "live", 10*time.Second)
		if v.Source == nil || v.Source.Protocol != "rtmps" {
			t.Errorf("first, stream %q: source %+v, want rtmps", name, v.Source)
		}
	}
	waitDest(t, first, "event", "nginx", outputs.StateLive, 10*time.Second)

	// (b) RTMPS push, certificate verified against the test's pool.
	waitDest(t, first, "cam", "second", outputs.StateLive, 10*time.Second)
	v2 := waitStream(t, second, "relay", "live", 10*time.Second)
	if v2.Source == nil || v2.Source.Protocol != "rtmps" {
		t.Errorf("second: source %+v, want rtmps", v2.Source)
	}
	untrusted := waitDest(t, first, "cam", "untrusted", outputs.StateRetrying, 10*time.Second)
	if !strings.Contains(untrusted.LastError, "certificate") {
		t.Errorf("untrusted destination: error %q does not mention the certificate", untrusted.LastError)
	}
	t.Logf("untrusted destination: %q", untrusted.LastError)

	// What reached the second Beffroi, played back over RTMP.
	out := filepath.Join(t.TempDir(), "played.flv")
	play := startProcess(t, t.Context(), "ffmpeg play",
		"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-i", "rtmp://"+second.RTMPAddr()+"/live/relay", "-t", "3", "-c", "copy", "-y", out)
	if err := play.Wait(t, 20*time.Second); err != nil {
		t.Fatalf("playing from the second Beffroi: %v\n%s", err, play.stderr.String())
	}
	checkRecording(t, out, 1280, 720, 3, 0.5)
	assertIncreasing(t, out, packetDTS(t, out, "v"))
	if s, _ := destStatus(first, "cam", "second"); s.State != outputs.StateLive || s.Reconnects != 0 {
		t.Errorf("RTMPS destination: %+v, want live without reconnects", s)
	}

	if cam.Exited() {
		t.Errorf("the RTMPS publisher of cam stopped: %v", cam.err)
	}
	cam.Kill()
	if err := pub.Wait(t, 20*time.Second); err != nil {
		t.Fatalf("publisher: %v\n%s", err, pub.stderr.String())
	}
	for b, name := range map[*beffroi]string{first: "event", second: "relay"} {
		_, body, err := b.getStream(name)
		if err != nil {
			t.Fatal(err)
		}
		testutil.AssertNoSecret(t, "the API", body, secrets...)
	}
	missed := missedStart(t, first, "event", "nginx")["nginx"]
	first.Stop(t)
	second.Stop(t)
	n.WaitClosed(t, 1)
	recs := n.Recordings()
	if len(recs) != 1 {
		t.Fatalf("nginx recorded %d files, want 1: %v", len(recs), recs)
	}
	checkRecording(t, recs[0], 1280, 720, seconds-missed, 1.5)
	assertIncreasing(t, recs[0], packetDTS(t, recs[0], "v"))
	for name, b := range map[string]*beffroi{"first": first, "second": second} {
		testutil.AssertNoSecret(t, fmt.Sprintf("the %s instance's log", name), b.Logs.String(), secrets...)
	}
}
