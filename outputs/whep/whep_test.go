package whep

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/rtctest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/relay/relaytest"
	"github.com/beffroi/beffroi/relay/transcode"
)

const (
	streamName = "concert"
	publishKey = "pk-concert-93c75e1f0a"
)

// fakeAudience records joins and leaves by stream and protocol.
type fakeAudience struct {
	mu     sync.Mutex
	now    map[string]int
	joined int
}

func (a *fakeAudience) Join(stream, protocol string) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.now == nil {
		a.now = map[string]int{}
	}
	a.now[stream+"/"+protocol]++
	a.joined++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.now[stream+"/"+protocol]--
		})
	}
}

func (a *fakeAudience) count(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now[key]
}

// fakeRenditions hands out one derived stream that the test feeds itself, in place of an
// ffmpeg process.
type fakeRenditions struct {
	out      *relay.Stream
	acquired atomic.Int32
	released atomic.Int32
}

func (f *fakeRenditions) Fit(ctx context.Context, src *relay.Stream, n transcode.Needs) (*relay.Stream, func(), error) {
	if err := src.WaitMedia(ctx); err != nil {
		return nil, nil, err
	}
	if n.FitsStream(src) {
		return src, func() {}, nil
	}
	f.acquired.Add(1)
	var once sync.Once
	return f.out, func() { once.Do(func() { f.released.Add(1) }) }, nil
}

type testServer struct {
	*Server
	reg  *relay.Registry
	st   *relay.Stream
	http *httptest.Server
	logs *testutil.LogBuffer
	aud  *fakeAudience
}

func startServer(t *testing.T, rend Renditions) *testServer {
	t.Helper()
	return startServerWith(t, rend, nil)
}

// startServerWith is startServer with the configuration changed by mod (when not nil).
func startServerWith(t testing.TB, rend Renditions, mod func(*Config)) *testServer {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	st, err := reg.Add(streamName, publishKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	n, err := rtcnet.Listen(rtcnet.Config{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	aud := &fakeAudience{}
	c := Config{Net: n, Renditions: rend, Audience: aud, Logger: logs.Logger()}
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
		_ = n.Close()
		reg.StopAll()
		testutil.AssertNoSecret(t, "server log", logs.String(), publishKey)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, reg: reg, st: st, http: hs, logs: logs, aud: aud}
}

// feedMedia is what feed publishes: pictures of 600 bytes, keyframes of 5000 (more than one
// RTP packet), audio frames of a few bytes.
var feedMedia = relaytest.Options{VideoSize: 600, KeySize: 5000, AudioSize: 3}

// feed publishes synthetic H.264 (a keyframe every 30 frames, 30 fps) and audio of codec
// audio (AAC or Opus) to st in real time until the test ends.
func feed(t *testing.T, st *relay.Stream, audio relay.Codec) {
	t.Helper()
	feedWith(t, st, audio, 0)
}

// feedWith is feed with video frames shown reorder after they are decoded (B-frames when
// reorder is not zero).
func feedWith(t *testing.T, st *relay.Stream, audio relay.Codec, reorder time.Duration) {
	t.Helper()
	o := feedMedia
	o.Source = relay.SourceInfo{Protocol: "test", RemoteAddr: "test"}
	o.Audio, o.Reorder = audio, reorder
	relaytest.Publish(t, st, o).Start()
}

// viewer is a pion client receiving video and audio.
type viewer struct {
	pc           *webrtc.PeerConnection
	videoPackets atomic.Int64
	audioPackets atomic.Int64
	sawSPS       atomic.Bool // a STAP-A with the SPS came before the first IDR
	frames       atomic.Int64
	damaged      atomic.Int64 // pictures whose bytes are not what feed sent
	checked      atomic.Int64 // pictures compared with what feed sent
	codecs       sync.Map     // kind -> mime
}

func newViewer(t *testing.T, register func(*webrtc.MediaEngine) error, kinds ...webrtc.RTPCodecType) *viewer {
	t.Helper()
	pc := rtctest.PeerConnection(t, rtctest.API(t, register))
	if len(kinds) == 0 {
		kinds = []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}
	}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	v := &viewer{pc: pc}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.codecs.Store(tr.Kind().String(), tr.Codec().MimeType)
		var dep codecs.H264Packet
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				v.audioPackets.Add(1)
				continue
			}
			v.videoPackets.Add(1)
			if len(pkt.Payload) > 0 && pkt.Payload[0]&0x1f == 24 && v.frames.Load() == 0 {
				v.sawSPS.Store(len(pkt.Payload) > 3 && pkt.Payload[3]&0x1f == 7)
			}
			out, err := dep.Unmarshal(pkt.Payload)
			if err == nil && pkt.Marker {
				v.frames.Add(1)
			}
			// feed's pictures are one NAL unit each, feedMedia's: anything else is a payload
			// damaged on the way (they are shared by every viewer).
			if nal, ok := bytes.CutPrefix(out, []byte{0, 0, 0, 1}); ok && len(nal) > 0 {
				switch nal[0] & 0x1f {
				case 1, 5:
					v.checked.Add(1)
					if !feedMedia.Intact(nal) {
						v.damaged.Add(1)
					}
				}
			}
		}
	})
	return v
}

func (v *viewer) offer(t *testing.T) string {
	t.Helper()
	return rtctest.Offer(t, v.pc)
}

// post sends body to url, with the headers of hdr (name, value, ...).
func post(t *testing.T, url, contentType, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// play connects v to the stream, its offer sent with the headers of hdr, and returns the
// session's location.
func (v *viewer) play(t *testing.T, ts *testServer, hdr ...string) string {
	t.Helper()
	resp, answer := post(t, ts.http.URL+"/whep/"+streamName, "application/sdp", v.offer(t), hdr...)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /whep: %s: %s", resp.Status, answer)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whep/"+streamName+"/") {
		t.Fatalf("Location %q", loc)
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return loc
}

func del(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsolePreviewUncounted: an operator's offer marked with audience.PreviewHeader (the
// console's preview) plays without being counted; the header from anyone else changes nothing.
func TestConsolePreviewUncounted(t *testing.T) {
	ts := startServerWith(t, nil, func(c *Config) {
		c.Operator = func(r *http.Request) bool { return r.Header.Get("Cookie") == "session=operator" }
	})
	feed(t, ts.st, relay.Opus)
	preview := newViewer(t, nil)
	preview.play(t, ts, audience.PreviewHeader, "1", "Cookie", "session=operator")
	testutil.WaitFor(t, "video at the preview", func() bool { return preview.frames.Load() >= 10 })
	if n := ts.aud.count(streamName + "/whep"); n != 0 {
		t.Errorf("audience counts %d WHEP viewers while the console previews, want 0", n)
	}
	stranger := newViewer(t, nil)
	stranger.play(t, ts, audience.PreviewHeader, "1")
	testutil.WaitFor(t, "the stranger counted", func() bool { return ts.aud.count(streamName+"/whep") == 1 })
}

// TestPlayH264Opus: a viewer plays an H.264 + Opus stream from its newest keyframe, with the
// SPS and PPS in front of the keyframe; it is counted while connected, and DELETE ends it.
func TestPlayH264Opus(t *testing.T) {
	ts := startServer(t, nil)
	feed(t, ts.st, relay.Opus)
	v := newViewer(t, nil)
	loc := v.play(t, ts)

	testutil.WaitFor(t, "video frames and audio at the viewer", func() bool {
		return v.frames.Load() >= 30 && v.audioPackets.Load() >= 20
	})
	if !v.sawSPS.Load() {
		t.Error("the first video packet was not a STAP-A carrying the SPS")
	}
	for kind, want := range map[string]string{"video": webrtc.MimeTypeH264, "audio": webrtc.MimeTypeOpus} {
		if c, _ := v.codecs.Load(kind); !strings.EqualFold(c.(string), want) {
			t.Errorf("%s codec %v, want %s", kind, c, want)
		}
	}
	if n := ts.aud.count(streamName + "/whep"); n != 1 {
		t.Errorf("audience counts %d WHEP viewers, want 1", n)
	}
	if ts.Sessions() != 1 {
		t.Errorf("%d sessions, want 1", ts.Sessions())
	}
	if code := del(t, ts.http.URL+loc); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	if n := ts.aud.count(streamName + "/whep"); n != 0 {
		t.Errorf("audience counts %d WHEP viewers after DELETE, want 0", n)
	}
	if ts.Sessions() != 0 {
		t.Errorf("%d sessions after DELETE, want 0", ts.Sessions())
	}
	if code := del(t, ts.http.URL+loc); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	ts.logs.WaitFor(t, "viewer sent DELETE")
	for l := range strings.Lines(ts.logs.String()) {
		if strings.Contains(l, "WHEP session ended") {
			t.Log(strings.TrimSpace(l)) // what the session added to the delay
		}
	}
}

// TestManyViewersShareFrames: viewers get the same payloads, built once per frame.
func TestManyViewersShareFrames(t *testing.T) {
	ts := startServer(t, nil)
	feed(t, ts.st, relay.Opus)
	var vs []*viewer
	for range 3 {
		v := newViewer(t, nil)
		v.play(t, ts)
		vs = append(vs, v)
	}
	testutil.WaitFor(t, "frames at every viewer", func() bool {
		for _, v := range vs {
			if v.frames.Load() < 20 {
				return false
			}
		}
		return true
	})
	if n := ts.aud.count(streamName + "/whep"); n != 3 {
		t.Errorf("audience counts %d, want 3", n)
	}
	for i, v := range vs {
		if n, c := v.damaged.Load(), v.checked.Load(); n > 0 || c < 20 {
			t.Errorf("viewer %d: %d damaged pictures of %d checked", i, n, c)
		}
	}
	// Closing a viewer's connection (no DELETE) ends its session too.
	_ = vs[0].pc.Close()
	testutil.WaitFor(t, "the closed viewer's session to end", func() bool { return ts.aud.count(streamName+"/whep") == 2 })
}

// TestAACSourceGetsOpusRendition: an AAC source plays with the Opus audio of its rendition;
// the rendition is released when the viewer leaves.
func TestAACSourceGetsOpusRendition(t *testing.T) {
	rend := &fakeRenditions{out: relay.NewStream(relay.StreamOptions{Name: streamName + "~opus", Grace: time.Minute})}
	ts := startServer(t, rend)
	feed(t, ts.st, relay.AAC)
	feed(t, rend.out, relay.Opus)
	v := newViewer(t, nil)
	loc := v.play(t, ts)
	testutil.WaitFor(t, "video and Opus audio from the rendition", func() bool {
		return v.frames.Load() >= 10 && v.audioPackets.Load() >= 10
	})
	if rend.acquired.Load() != 1 {
		t.Errorf("rendition acquired %d times, want 1", rend.acquired.Load())
	}
	del(t, ts.http.URL+loc)
	if rend.released.Load() != 1 {
		t.Errorf("rendition released %d times, want 1", rend.released.Load())
	}
}

// TestStreamEndEndsSessions: when the stream's session ends, its viewers' sessions end and
// they stop being counted.
func TestStreamEndEndsSessions(t *testing.T) {
	ts := startServer(t, nil)
	feed(t, ts.st, relay.Opus)
	v := newViewer(t, nil)
	v.play(t, ts)
	testutil.WaitFor(t, "frames", func() bool { return v.frames.Load() >= 5 })
	ts.st.Stop()
	testutil.WaitFor(t, "the session to end", func() bool { return ts.Sessions() == 0 })
	if n := ts.aud.count(streamName + "/whep"); n != 0 {
		t.Errorf("audience counts %d after the stream ended", n)
	}
	ts.logs.WaitFor(t, "stream ended")
}

// TestRefused: every bad request gets a clear 4xx and one log line, and leaves no session.
func TestRefused(t *testing.T) {
	ts := startServer(t, nil)
	url := ts.http.URL + "/whep/" + streamName
	okOffer := newViewer(t, nil).offer(t)

	resp, body := post(t, url, "application/sdp", okOffer)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "offline") {
		t.Errorf("offline stream: %s %q, want 404 saying offline", resp.Status, body)
	}
	resp, body = post(t, ts.http.URL+"/whep/nope", "application/sdp", okOffer)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no such stream") {
		t.Errorf("unknown stream: %s %q", resp.Status, body)
	}

	feed(t, ts.st, relay.Opus)
	for _, c := range []struct {
		name, ctype, body string
		status            int
		says              string
	}{
		{"not SDP", "text/plain", okOffer, http.StatusUnsupportedMediaType, "application/sdp"},
		{"malformed", "application/sdp", "v=0\r\nthis is not SDP\r\n", http.StatusBadRequest, "invalid SDP"},
		{"no media", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", http.StatusBadRequest, "no media"},
		{"too large", "application/sdp", strings.Repeat("a", maxOfferSize+1), http.StatusRequestEntityTooLarge, "too large"},
	} {
		resp, body := post(t, url, c.ctype, c.body)
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %s %q, want %d saying %q", c.name, resp.Status, body, c.status, c.says)
		}
	}

	// A viewer that only takes VP9 video cannot get this H.264 stream: the reason says why.
	vp9 := newViewer(t, func(me *webrtc.MediaEngine) error {
		return me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000},
			PayloadType:        98,
		}, webrtc.RTPCodecTypeVideo)
	}, webrtc.RTPCodecTypeVideo)
	resp, body = post(t, url, "application/sdp", vp9.offer(t))
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(body, "H264") || !strings.Contains(body, "VP9") {
		t.Errorf("no codec overlap: %s %q, want 415 naming H264 and VP9", resp.Status, body)
	}
	if ts.Sessions() != 0 {
		t.Errorf("%d sessions left by refused requests", ts.Sessions())
	}
	if n := ts.logs.Count("play refused"); n != 7 {
		t.Errorf("%d 'play refused' log lines for 7 refusals", n)
	}
	if n := ts.logs.Count("level=INFO", "play refused"); n != 6 {
		t.Errorf("%d 'play refused' lines at INFO, want 6 (the offline stream is DEBUG)", n)
	}
}

// TestCORSAndPatch: the player may be embedded in any site.
func TestCORSAndPatch(t *testing.T) {
	ts := startServer(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, ts.http.URL+"/whep/"+streamName, nil)
	req.Header.Set("Origin", "https://town.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	req, _ = http.NewRequest(http.MethodPatch, ts.http.URL+"/whep/"+streamName+"/abc", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: %d, want 405", resp.StatusCode)
	}
}

// TestCloseEndsSessions: Close ends every session and returns once they are gone.
func TestCloseEndsSessions(t *testing.T) {
	ts := startServer(t, nil)
	feed(t, ts.st, relay.Opus)
	v := newViewer(t, nil)
	v.play(t, ts)
	testutil.WaitFor(t, "frames", func() bool { return v.frames.Load() >= 5 })
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if ts.Sessions() != 0 || ts.aud.count(streamName+"/whep") != 0 {
		t.Errorf("after Close: %d sessions, %d counted", ts.Sessions(), ts.aud.count(streamName+"/whep"))
	}
	resp, _ := post(t, ts.http.URL+"/whep/"+streamName, "application/sdp", newViewer(t, nil).offer(t))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after Close: %d, want 503", resp.StatusCode)
	}
}

// TestTimelineCatchUp: a backlog delivered at once is played faster until the viewer is
// live; live media then keeps its own pace, and the mapping never goes back.
func TestTimelineCatchUp(t *testing.T) {
	tl := &timeline{}
	t0 := time.Unix(1000, 0)
	frame := 33 * time.Millisecond
	var last time.Duration
	check := func(p time.Duration, now time.Time) (time.Duration, bool) {
		v, fast := tl.at(p, now)
		if v < last {
			t.Fatalf("stream time %v mapped to %v, before the previous %v", p, v, last)
		}
		last = v
		return v, fast
	}
	// Two seconds of backlog, all there when the viewer joins: sent as fast as due allows.
	now := t0
	var fastFrames int
	for i := range 60 {
		v, fast := check(10*time.Second+time.Duration(i)*frame, now)
		if fast {
			fastFrames++
		}
		if d := tl.due(v); d.After(now) {
			now = d
		}
	}
	if fastFrames < 40 {
		t.Errorf("%d of 60 backlog frames played fast, want most", fastFrames)
	}
	caughtUp := now.Sub(t0)
	if caughtUp > 700*time.Millisecond {
		t.Errorf("the 2 s backlog took %v to send, want a fraction of it", caughtUp)
	}
	// Live frames, every 33 ms with some jitter: normal speed.
	var fastLive int
	for i := 60; i < 200; i++ {
		now = now.Add(frame + time.Duration(i%3)*5*time.Millisecond - 5*time.Millisecond)
		if _, fast := check(10*time.Second+time.Duration(i)*frame, now); fast && i > 70 {
			fastLive++
		}
	}
	if fastLive > 0 {
		t.Errorf("%d live frames played fast", fastLive)
	}
	// An audio frame slightly older than the newest video frame maps consistently.
	v1, _ := tl.at(10*time.Second+150*frame, now)
	v2, _ := tl.at(10*time.Second+150*frame+time.Millisecond, now)
	if v2 <= v1 {
		t.Errorf("mapping not increasing inside the known range: %v then %v", v1, v2)
	}
}

// TestBFramesPlayRendition: a stream with B-frames (OBS's default), which Chromium would
// show as a slideshow, plays from the rendition without them, shared by every viewer and
// released when they leave.
func TestBFramesPlayRendition(t *testing.T) {
	rend := &fakeRenditions{out: relay.NewStream(relay.StreamOptions{Name: streamName + "~h264", Grace: time.Minute})}
	ts := startServer(t, rend)
	feedWith(t, ts.st, relay.Opus, 66*time.Millisecond)
	feed(t, rend.out, relay.Opus)
	testutil.WaitFor(t, "media", ts.st.HasMedia)
	var vs []*viewer
	var locs []string
	for range 2 {
		v := newViewer(t, nil)
		locs = append(locs, v.play(t, ts))
		vs = append(vs, v)
	}
	for i, v := range vs {
		testutil.WaitFor(t, "video and audio from the rendition", func() bool {
			return v.frames.Load() >= 30 && v.audioPackets.Load() >= 20
		})
		if n, c := v.damaged.Load(), v.checked.Load(); n > 0 || c < 20 {
			t.Errorf("viewer %d: %d damaged pictures of %d checked", i, n, c)
		}
	}
	if n := ts.logs.Count("WHEP session answered", "rendition=true"); n != 2 {
		t.Errorf("%d sessions answered on the rendition, want 2:\n%s", n, ts.logs.String())
	}
	for _, loc := range locs {
		del(t, ts.http.URL+loc)
	}
	if a, r := rend.acquired.Load(), rend.released.Load(); a != 2 || r != 2 {
		t.Errorf("rendition acquired %d and released %d times, want 2 and 2", a, r)
	}
}

// TestBFramesWithoutRenditions: with no renditions (no ffmpeg), a stream with B-frames is
// refused with the reason: the watch page then plays it over HLS.
func TestBFramesWithoutRenditions(t *testing.T) {
	ts := startServer(t, nil)
	feedWith(t, ts.st, relay.Opus, 66*time.Millisecond)
	testutil.WaitFor(t, "media", ts.st.HasMedia)
	resp, body := post(t, ts.http.URL+"/whep/"+streamName, "application/sdp", newViewer(t, nil).offer(t))
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(body, "B-frames") || !strings.Contains(body, "HLS") {
		t.Errorf("B-frames without renditions: %s %q, want 415 saying B-frames and HLS", resp.Status, body)
	}
	// An audio-only viewer does not mind them.
	a := newViewer(t, nil, webrtc.RTPCodecTypeAudio)
	a.play(t, ts)
	testutil.WaitFor(t, "audio at the audio-only viewer", func() bool { return a.audioPackets.Load() >= 20 })
}

// TestBFramesAppearMidSession: a viewer plays a source without B-frames as it is; the
// publisher comes back with B-frames (another encoder setting): the session moves onto the
// rendition without them and plays on, rather than ending.
func TestBFramesAppearMidSession(t *testing.T) {
	rend := &fakeRenditions{out: relay.NewStream(relay.StreamOptions{Name: streamName + "~h264", Grace: time.Minute})}
	ts := startServer(t, rend)
	o := feedMedia
	o.Source, o.Audio = relay.SourceInfo{Protocol: "test", RemoteAddr: "test"}, relay.Opus
	first := relaytest.Publish(t, ts.st, o)
	first.Start()
	feed(t, rend.out, relay.Opus)
	v := newViewer(t, nil)
	v.play(t, ts)
	testutil.WaitFor(t, "frames from the source", func() bool { return v.frames.Load() >= 30 })
	if rend.acquired.Load() != 0 {
		t.Fatalf("a source without B-frames went through the rendition")
	}
	first.Close()
	o.Reorder = 66 * time.Millisecond
	relaytest.Publish(t, ts.st, o).Start()
	ts.logs.WaitFor(t, "moving the viewer onto a rendition")
	at := v.frames.Load()
	testutil.WaitFor(t, "frames from the rendition", func() bool { return v.frames.Load() >= at+30 && rend.acquired.Load() == 1 })
	if n := ts.logs.Count("WHEP session ended"); n != 0 || ts.Sessions() != 1 {
		t.Errorf("%d sessions ended, %d left, want the session playing on:\n%s", n, ts.Sessions(), ts.logs.String())
	}
	if n, c := v.damaged.Load(), v.checked.Load(); n > 0 || c < 60 {
		t.Errorf("%d damaged pictures of %d checked", n, c)
	}
}

// TestPlayVP8AudioOnlyViewer: a VP8 source (a browser that published VP8 over WHIP) plays as
// VP8; a viewer that offers audio only gets the audio only.
func TestPlayVP8AudioOnlyViewer(t *testing.T) {
	ts := startServer(t, nil)
	pub := ts.st.Publish(relay.SourceInfo{Protocol: "test", RemoteAddr: "test"})
	vt, err := pub.SetTrack(&relay.Track{Codec: relay.VP8, Width: 640, Height: 360})
	if err != nil {
		t.Fatal(err)
	}
	at, err := pub.SetTrack(relay.NewOpusTrack(2))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pub.Close()
		for i := 0; ; i++ {
			d := time.Duration(i) * 33 * time.Millisecond
			frame := make([]byte, 3000)
			key := i%30 == 0
			if !key {
				frame[0] = 1 // RFC 6386: bit 0 of the frame tag is 1 on inter frames
			}
			_ = pub.WriteFrame(&relay.Frame{Track: vt, DTS: d, PTS: d, Key: key, Units: [][]byte{frame}})
			_ = pub.WriteFrame(&relay.Frame{Track: at, DTS: d, PTS: d, Key: true, Units: [][]byte{{0xfc, 0xff}}})
			select {
			case <-stop:
				return
			case <-time.After(33 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })

	v := newViewer(t, nil)
	v.play(t, ts)
	testutil.WaitFor(t, "VP8 frames", func() bool { return v.videoPackets.Load() >= 30 })
	if c, _ := v.codecs.Load("video"); !strings.EqualFold(c.(string), webrtc.MimeTypeVP8) {
		t.Errorf("video codec %v, want VP8", c)
	}

	a := newViewer(t, nil, webrtc.RTPCodecTypeAudio)
	a.play(t, ts)
	testutil.WaitFor(t, "audio at the audio-only viewer", func() bool { return a.audioPackets.Load() >= 10 })
	if a.videoPackets.Load() != 0 {
		t.Errorf("the audio-only viewer got %d video packets", a.videoPackets.Load())
	}
}
