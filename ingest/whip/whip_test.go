package whip

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/rtctest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

const (
	streamName = "conseil"
	publishKey = "pk-conseil-5e1f0a93c7"
	otherKey   = "pk-marche-0b7d41e2aa"
)

type testServer struct {
	*Server
	reg  *relay.Registry
	st   *relay.Stream
	http *httptest.Server
	logs *testutil.LogBuffer
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with the configuration changed by mod (when not nil).
func startServerWith(t testing.TB, mod func(*Config)) *testServer {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	st, err := reg.Add(streamName, publishKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add("marche", otherKey); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	n, err := rtcnet.Listen(rtcnet.Config{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	c := Config{Net: n, KeyframeInterval: 100 * time.Millisecond, Logger: logs.Logger()}
	if mod != nil {
		mod(&c)
	}
	s, err := New(reg, c)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		reg.StopAll()
		testutil.AssertNoSecret(t, "server log", logs.String(), publishKey, otherKey)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, reg: reg, st: st, http: hs, logs: logs}
}

func post(t *testing.T, url, key, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// firstVideoCodec returns the name of the first codec of an SDP's video section.
func firstVideoCodec(t *testing.T, s string) string {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		t.Fatal(err)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || len(m.MediaName.Formats) == 0 {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "rtpmap" && strings.HasPrefix(a.Value, m.MediaName.Formats[0]+" ") {
				name, _, _ := strings.Cut(strings.TrimPrefix(a.Value, m.MediaName.Formats[0]+" "), "/")
				return name
			}
		}
	}
	return ""
}

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

func TestPublishH264Opus(t *testing.T) {
	ts := startServer(t)
	api := rtctest.API(t, nil)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "beffroi")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
	}, "audio", "beffroi")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pc.AddTrack(video)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(audio); err != nil {
		t.Fatal(err)
	}
	var plis atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			pkts, _, err := vs.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					plis.Add(1)
				}
			}
		}
	})

	o := rtctest.Offer(t, pc)
	if got := firstVideoCodec(t, o); got != "VP8" {
		t.Fatalf("the client's offer should list VP8 first (as Chromium does), got %s", got)
	}
	resp, answer := post(t, ts.http.URL+"/whip/"+streamName, publishKey, o)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s %s", resp.Status, answer)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whip/"+streamName+"/") {
		t.Fatalf("Location %q", loc)
	}
	if got := firstVideoCodec(t, answer); got != "H264" {
		t.Errorf("answer's first video codec is %s, want H264", got)
	}
	if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "127.0.0.1") {
		t.Errorf("answer carries no loopback candidate:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}

	// Media: 50 ticks a second, an Opus packet and a video frame each, an IDR every 10.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		opus := []byte{0xfc, 0xff, 0xfe}
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var frame []byte
			if i%10 == 0 {
				frame = annexB(testutil.SPS720(), testutil.PPS(), []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff})
			} else {
				frame = annexB([]byte{0x41, 0x9a, 0x02, 0x04, byte(i)})
			}
			if err := video.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
			if err := audio.WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
		}
	})

	testutil.WaitFor(t, "stream live over webrtc with H.264 and Opus", func() bool {
		in := ts.st.Info()
		return in.State == relay.Live && in.Source.Protocol == "webrtc" && len(in.Tracks) == 2
	})
	v, a := ts.st.Track(relay.Video), ts.st.Track(relay.Audio)
	if v.Codec != relay.H264 || v.Width != 1280 || v.Height != 720 {
		t.Errorf("video track %s %dx%d, want H264 1280x720", v.Codec, v.Width, v.Height)
	}
	if a.Codec != relay.Opus || a.SampleRate != 48000 || a.Channels != 2 {
		t.Errorf("audio track %s %d Hz %d ch, want Opus 48000 Hz 2 ch", a.Codec, a.SampleRate, a.Channels)
	}

	r, err := ts.st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer rcancel()
	var keys, opus int
	var last [2]time.Duration
	var seen [2]bool
	for keys < 2 || opus < 20 {
		f, err := r.Next(rctx)
		if err != nil {
			t.Fatalf("reading: %v (keyframes %d, opus %d)", err, keys, opus)
		}
		k := f.Track.Kind()
		if seen[k] && f.DTS <= last[k] {
			t.Fatalf("%s DTS went from %v to %v", k, last[k], f.DTS)
		}
		last[k], seen[k] = f.DTS, true
		if k == relay.Video && f.Key {
			keys++
			if len(f.Units) == 0 || f.Units[len(f.Units)-1][0]&0x1f != 5 {
				t.Errorf("keyframe without an IDR: %x", f.Units)
			}
		}
		if k == relay.Audio {
			opus++
			if string(f.Units[0]) != "\xfc\xff\xfe" {
				t.Errorf("opus payload %x", f.Units[0])
			}
		}
	}
	if last[relay.Video] > time.Minute {
		t.Errorf("DTS should start near 0, got %v", last[relay.Video])
	}
	testutil.WaitFor(t, "keyframe requests (PLI) from the server", func() bool { return plis.Load() >= 2 })

	// DELETE ends the session; the stream waits for the publisher to come back.
	req, _ := http.NewRequest(http.MethodDelete, ts.http.URL+loc, nil)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", dresp.Status)
	}
	testutil.WaitFor(t, "stream reconnecting", func() bool { st, _ := ts.st.State(); return st == relay.Reconnecting })
	ts.logs.WaitFor(t, "publisher sent DELETE")

	cancel()
	_ = pc.GracefulClose()
	wg.Wait()
	// A second DELETE finds nothing.
	dresp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %s", dresp.Status)
	}
	ts.http.Close()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.NoGoroutines(t, "whip.(*session)", "whip.(*Server)", "pion/webrtc/v4.(*PeerConnection)", "pion/ice/v4.(*Agent)")
}

func TestRefused(t *testing.T) {
	ts := startServer(t)
	pc, err := rtctest.API(t, nil).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	o := rtctest.Offer(t, pc)
	for _, tc := range []struct{ name, key, stream string }{
		{"no key", "", streamName},
		{"unknown key", "pk-wrong-123456", streamName},
		{"another stream's key", otherKey, streamName},
		{"unknown stream", publishKey, "nowhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, ts.http.URL+"/whip/"+tc.stream, tc.key, o)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("got %s %s, want 401", resp.Status, body)
			}
		})
	}
	if st, _ := ts.st.State(); st != relay.Idle {
		t.Errorf("a refused publisher touched the stream: %s", st)
	}

	req, _ := http.NewRequest(http.MethodPost, ts.http.URL+"/whip/"+streamName, strings.NewReader(o))
	req.Header.Set("Authorization", "Bearer "+publishKey)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("wrong content type: %s", resp.Status)
	}
}

func TestUnsupportedCodec(t *testing.T) {
	ts := startServer(t)
	api := rtctest.API(t, func(me *webrtc.MediaEngine) error {
		return me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"},
			PayloadType:        98,
		}, webrtc.RTPCodecTypeVideo)
	})
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	resp, body := post(t, ts.http.URL+"/whip/"+streamName, publishKey, rtctest.Offer(t, pc))
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(body, "VP9") || !strings.Contains(body, "H.264") {
		t.Errorf("got %s %q, want 415 naming what was offered and what is taken", resp.Status, body)
	}
	if st, _ := ts.st.State(); st != relay.Idle {
		t.Errorf("stream %s", st)
	}
}

func TestCORSAndPatch(t *testing.T) {
	ts := startServer(t)
	req, _ := http.NewRequest(http.MethodOptions, ts.http.URL+"/whip/"+streamName, nil)
	req.Header.Set("Origin", "https://ville.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode/100 != 2 || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Location") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("preflight: %s %v", resp.Status, h)
	}
	req, _ = http.NewRequest(http.MethodPatch, ts.http.URL+"/whip/"+streamName+"/abc", strings.NewReader("a=end-of-candidates"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH of no session: %s, want 404", resp.Status)
	}
}
