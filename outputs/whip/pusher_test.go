package whip

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ingestwhip "github.com/beffroi/beffroi/ingest/whip"
	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const (
	streamName = "conseil"
	publishKey = "pk-conseil-5e1f0a93c7"
	otherKey   = "pk-marche-0b7d41e2aa"
)

func TestParseURL(t *testing.T) {
	for _, tt := range []struct{ in, endpoint, token string }{
		{"whip+https://ingest.example.org/whip/conseil?token=" + publishKey, "https://ingest.example.org/whip/conseil", publishKey},
		{"whip+http://127.0.0.1:8080/whip/conseil?token=a%2Bb&region=eu", "http://127.0.0.1:8080/whip/conseil?region=eu", "a+b"},
		{"whip+https://beffroi:" + publishKey + "@host/whip/x", "https://host/whip/x", publishKey},
		{"whip+https://host/rtc/v1/whip/?app=live&stream=x", "https://host/rtc/v1/whip/?app=live&stream=x", ""},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseURL(u)
		if err != nil {
			t.Errorf("parseURL(%s): %v", tt.in, err)
			continue
		}
		if got.endpoint.String() != tt.endpoint || got.token != tt.token {
			t.Errorf("parseURL(%s) = %s, token %q; want %s, %q", tt.in, got.endpoint, got.token, tt.endpoint, tt.token)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"whip://host/whip/x", "unsupported scheme"},
		{"whip+ftp://host/whip/x", "unsupported scheme"},
		{"whip+https:///whip/x?token=" + publishKey, "no host"},
		{"whip+https://host?token=" + publishKey, "no path"},
		{"whip+https://host/whip/x?token=a&token=" + publishKey, "more than one token"},
		{"whip+https://user@host/whip/x", "no password"},
		{"whip+https://u:" + otherKey + "@host/whip/x?token=" + publishKey, "two different tokens"},
		{"whip+https://host/whip/x?token=" + publishKey + ";%zz", "query is not valid"},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parseURL(u)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseURL(%s): %v, want an error with %q", tt.in, err, tt.want)
			continue
		}
		testutil.AssertNoSecret(t, "the error", err.Error(), publishKey, otherKey)
	}
	// Some platforms put the secret in the path: errors name the scheme and host only.
	u, _ := url.Parse("whip+https://customer.example.net/" + publishKey + "/webRTC/publish")
	p, err := NewPusher(u, outputs.Options{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if w := p.where(); w != "https://customer.example.net" {
		t.Errorf("where() = %q", w)
	}
}

// endpoint is a Beffroi WHIP ingest in the test (the far end of the destination), whose HTTP
// side can be taken away and brought back.
type endpoint struct {
	reg  *relay.Registry
	st   *relay.Stream
	srv  *ingestwhip.Server
	http *httptest.Server
	logs *testutil.LogBuffer
	down atomic.Bool // answers 503 to everything
	h    atomic.Pointer[http.Handler]
}

func startEndpoint(t *testing.T) *endpoint {
	t.Helper()
	e := &endpoint{logs: &testutil.LogBuffer{}}
	e.reg = relay.NewRegistry(relay.RegistryOptions{Grace: time.Second})
	var err error
	if e.st, err = e.reg.Add(streamName, publishKey); err != nil {
		t.Fatal(err)
	}
	n, err := rtcnet.Listen(rtcnet.Config{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = ingestwhip.New(e.reg, ingestwhip.Config{Net: n, Logger: e.logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	h := e.srv.Handler()
	e.h.Store(&h)
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		(*e.h.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.http.Close()
		_ = e.srv.Close()
		e.reg.StopAll()
		_ = n.Close()
		testutil.AssertNoSecret(t, "the endpoint's log", e.logs.String(), publishKey)
		if t.Failed() {
			t.Logf("endpoint log:\n%s", e.logs.String())
		}
	})
	return e
}

// url is the destination URL of the endpoint's stream with token.
func (e *endpoint) url(token string) string {
	return "whip+" + e.http.URL + "/whip/" + streamName + "?token=" + url.QueryEscape(token)
}

// loopback is the options of pushers to the test endpoints, which are on 127.0.0.1.
func loopback() outputs.Options { return outputs.Options{AllowPrivateNetworks: true} }

// senderNet is the shared WebRTC network of the pushing side, on loopback.
func senderNet(t *testing.T) *rtcnet.Net {
	t.Helper()
	n, err := rtcnet.Listen(rtcnet.Config{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// sourceMedia is what the test sources publish: H.264 (30 fps, a keyframe every second) with
// pictures of a few RTP packets, and Opus (20 ms frames).
var sourceMedia = relaytest.Options{Audio: relay.Opus, VideoSize: 2000, KeySize: 16000, AudioSize: 120}

// liveSource is a relay stream fed in real time with sourceMedia until the test ends.
func liveSource(t *testing.T) *relay.Stream {
	t.Helper()
	st := relaytest.NewStream(t, "source")
	relaytest.Publish(t, st, sourceMedia).Start()
	return st
}

type progress struct {
	live          atomic.Bool
	bytes, frames atomic.Int64
}

func (p *progress) Live()                   { p.live.Store(true) }
func (p *progress) Wrote(bytes, frames int) { p.bytes.Add(int64(bytes)); p.frames.Add(int64(frames)) }

// TestPushToBeffroi: the pusher publishes H.264 and Opus to a WHIP ingest, which receives both
// as a webrtc source; the end of the push sends DELETE, which ends the far session at once.
func TestPushToBeffroi(t *testing.T) {
	e := startEndpoint(t)
	src := liveSource(t)
	u, _ := url.Parse(e.url(publishKey))
	p, err := NewPusher(u, loopback(), Config{Net: senderNet(t)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	pr := &progress{}
	done := make(chan error, 1)
	go func() { done <- p.Push(ctx, r, pr) }()

	testutil.WaitFor(t, "the endpoint's stream to receive H.264 and Opus", func() bool {
		in := e.st.Info()
		if in.State != relay.Live || in.Source.Protocol != "webrtc" || len(in.Tracks) != 2 {
			return false
		}
		for _, tr := range in.Tracks {
			if tr.Frames < 30 {
				return false
			}
		}
		return true
	})
	if !pr.live.Load() || pr.frames.Load() == 0 || pr.bytes.Load() == 0 {
		t.Errorf("progress: live %v, %d frames, %d bytes", pr.live.Load(), pr.frames.Load(), pr.bytes.Load())
	}
	for _, tr := range e.st.Info().Tracks {
		t.Logf("endpoint track: %+v", tr)
		if tr.Kind == "video" && (tr.Codec != relay.H264 || tr.Width != 1280 || tr.Height != 720) {
			t.Errorf("video track %+v, want H264 1280x720", tr)
		}
		if tr.Kind == "audio" && tr.Codec != relay.Opus {
			t.Errorf("audio track %+v, want Opus", tr)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Push returned %v, want context.Canceled", err)
	}
	e.logs.WaitFor(t, "publisher sent DELETE")
	testutil.WaitFor(t, "the far publisher to be gone", func() bool {
		return e.st.Info().State != relay.Live
	})
}

// TestPushRefusedToken: a wrong token is a clear error, without the token, retried with
// backoff by the destination.
func TestPushRefusedToken(t *testing.T) {
	e := startEndpoint(t)
	src := liveSource(t)
	u, _ := url.Parse(e.url(otherKey))
	p, err := NewPusher(u, loopback(), Config{Net: senderNet(t)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pr := &progress{}
	err = p.Push(context.Background(), r, pr)
	if err == nil || !strings.Contains(err.Error(), "refused the token") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Push: %v, want a refused token (401)", err)
	}
	t.Logf("error: %v", err)
	testutil.AssertNoSecret(t, "the error", err.Error(), otherKey, url.QueryEscape(otherKey))
	if pr.live.Load() {
		t.Error("a refused push reported live")
	}
}

// TestPushEndpointVanishes: the endpoint goes away mid-stream (its sessions end, its HTTP
// answers 503); the destination retries, says why, and is live again once it is back.
func TestPushEndpointVanishes(t *testing.T) {
	e := startEndpoint(t)
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Second})
	src, err := reg.Add("source", "pk-source-0000")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	m := outputs.NewManager(reg, map[string]outputs.NewPusherFunc{
		"whip+http": NewFunc(Config{Net: senderNet(t)}),
	}, outputs.Options{AllowPrivateNetworks: true, RetryMin: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond, Logger: logs.Logger()})
	stop := testutil.Start(t, m.Run)
	defer stop()
	if err := m.Add("source", outputs.DestinationConfig{Name: "far", URL: e.url(publishKey), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	relaytest.Publish(t, src, sourceMedia).Start()

	status := func() outputs.Status { return m.List("source")[0] }
	testutil.WaitFor(t, "the destination to be live", func() bool { return status().State == outputs.StateLive })
	testutil.WaitFor(t, "the endpoint to receive media", func() bool { return e.st.Info().State == relay.Live })

	e.down.Store(true)
	_ = e.srv.Close() // ends every session: the pusher's connection closes
	testutil.Eventually(t, 30*time.Second, func() error {
		if s := status(); s.State != outputs.StateRetrying || !strings.Contains(s.LastError, "503") {
			return errors.New("destination " + string(s.State) + ": " + s.LastError)
		}
		return nil
	})
	s := status()
	t.Logf("while the endpoint is away: %+v", s)
	testutil.AssertNoSecret(t, "the status", s.LastError, publishKey)

	// The endpoint comes back (a new server on the same HTTP address).
	e.srv = restartEndpoint(t, e)
	e.down.Store(false)
	testutil.Eventually(t, 30*time.Second, func() error {
		if s := status(); s.State != outputs.StateLive {
			return errors.New("destination " + string(s.State) + ": " + s.LastError)
		}
		return nil
	})
	if s := status(); s.Reconnects == 0 {
		t.Errorf("status %+v: want reconnects counted", s)
	}
	testutil.AssertNoSecret(t, "the destination log", logs.String(), publishKey)
}

// restartEndpoint replaces the endpoint's WHIP server (closed) with a new one.
func restartEndpoint(t *testing.T, e *endpoint) *ingestwhip.Server {
	t.Helper()
	n, err := rtcnet.Listen(rtcnet.Config{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingestwhip.New(e.reg, ingestwhip.Config{Net: n, Logger: e.logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	e.h.Store(&h)
	t.Cleanup(func() {
		_ = srv.Close()
		_ = n.Close()
	})
	return srv
}
