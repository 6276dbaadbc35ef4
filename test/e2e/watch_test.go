package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// countingAudience stands in for the audience counter: viewers now and joins, by stream and
// protocol.
type countingAudience struct {
	mu     sync.Mutex
	now    map[string]int
	joins  int
	leaves int
}

func (a *countingAudience) Join(stream, protocol string) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.now == nil {
		a.now = map[string]int{}
	}
	a.now[stream+"/"+protocol]++
	a.joins++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.now[stream+"/"+protocol]--
			a.leaves++
		})
	}
}

func (a *countingAudience) count(key string) (now, joins int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now[key], a.joins
}

type watchEvent struct {
	Event    string  `json:"event"`
	Error    string  `json:"error"`
	MS       int     `json:"ms"`
	Text     string  `json:"text"`
	Visible  bool    `json:"visible"`
	Lang     string  `json:"lang"`
	Protocol string  `json:"protocol"`
	Attempts int     `json:"attempts"`
	Frames   int     `json:"frames"`
	Advanced float64 `json:"advanced"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Lit      float64 `json:"litPixels"`
	Audio    int     `json:"audioTracks"`
	Codec    string  `json:"codec"`
	ACodec   string  `json:"audioCodec"`
	APackets int     `json:"audioPackets"`
	Display  float64 `json:"displayDelayMs"`
	VJitter  float64 `json:"videoJitterBufferMs"`
	AJitter  float64 `json:"audioJitterBufferMs"`
	Dropped  int     `json:"framesDropped"`
	Muted    bool    `json:"muted"`
	Paused   bool    `json:"paused"`
	Controls []string
}

// whepPost POSTs an offer to /whep/{stream} and returns the status and body.
func whepPost(t *testing.T, b *beffroi, stream, ctype, body string) (int, string) {
	t.Helper()
	resp, err := httpClient.Post("http://"+b.HTTPAddr()+"/whep/"+stream, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// vp9Offer is a well-formed offer to receive VP9 video only.
const vp9Offer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 98\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n" +
	"a=ice-ufrag:Vx3q\r\na=ice-pwd:n1Wq5mZ8mF2kP0gq7dA4vL9s\r\n" +
	"a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF\r\n" +
	"a=setup:actpass\r\na=rtpmap:98 VP9/90000\r\n"

// TestWatchPageWHEP: a viewer opens the watch page before the broadcast: it shows the
// "starts soon" poster. ffmpeg then publishes H.264 + AAC over RTMP, and the page switches
// to the live stream by itself, over WebRTC: frames render, time advances, the audio (Opus
// made from the AAC) arrives. The session is counted while it plays and DELETE (the page
// stopping) ends it. Bad requests are refused with a reason.
func TestWatchPageWHEP(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	// No B-frames: the video goes to the viewer as it is (a source with B-frames goes
	// through a rendition without them: TestWatchBFramesWHEP).
	clip := clip(t, "1280x720", "-bf", "0")
	b := startBeffroi(t, nil)
	aud := &countingAudience{}
	b.WHEP.SetAudience(aud)
	artifacts := artifactsDir(t, "watch")
	t.Logf("screenshots of the watch page in %s", artifacts)

	// Refused while offline, and for what can never play.
	if code, body := whepPost(t, b, "event", "application/sdp", vp9Offer); code != http.StatusNotFound || !strings.Contains(body, "offline") {
		t.Errorf("offline stream: %d %q, want 404 saying offline", code, body)
	}
	if code, body := whepPost(t, b, "nope", "application/sdp", vp9Offer); code != http.StatusNotFound {
		t.Errorf("unknown stream: %d %q, want 404", code, body)
	}
	if code, body := whepPost(t, b, "event", "application/sdp", "v=0\r\ngarbage"); code != http.StatusBadRequest {
		t.Errorf("malformed SDP: %d %q, want 400", code, body)
	}
	if _, err := b.get("/embed/event"); err != nil {
		t.Errorf("embed page: %v", err)
	}

	var maxNow int
	var pub *process
	events := runDriver(t, "watch.mjs", func(name string, _ watchEvent) {
		switch name {
		case "poster", "offline-again":
			// The page waits on its poster: the broadcast starts (again) now.
			pub = publish(t, t.Context(), b.PublishURL(publishKey), clip, 120)
		case "measured":
			maxNow, _ = aud.count("event/whep")
			// The broadcast ends: once the reconnect grace is over, the page must show its
			// poster again by itself.
			pub.Kill()
		}
	}, "http://"+b.HTTPAddr()+"/watch/event", artifacts, "6", "offline", "cycle")

	p := events["poster"]
	if !p.Visible || !strings.Contains(p.Text, "bientôt") || p.Lang != "fr" {
		t.Errorf("offline: poster %+v, want the French 'starts soon' poster", p)
	}
	l := events["live"]
	if l.Protocol != "webrtc" {
		t.Errorf("the page plays over %q, want webrtc", l.Protocol)
	}
	t.Logf("the page switched from the poster to live in %d ms (%d attempts)", l.MS, l.Attempts)
	m := events["measured"]
	if m.Frames < 60 || m.Advanced < 2 {
		t.Errorf("the page rendered %d frames and advanced %.1f s", m.Frames, m.Advanced)
	}
	if m.Width != 1280 || m.Height != 720 || m.Lit < 0.2 {
		t.Errorf("picture %dx%d with %.0f%% lit pixels, want 1280x720 testsrc2", m.Width, m.Height, 100*m.Lit)
	}
	if m.Audio != 1 || m.APackets == 0 || !strings.EqualFold(m.ACodec, "audio/opus") {
		t.Errorf("audio: %d tracks, %d packets, codec %q", m.Audio, m.APackets, m.ACodec)
	}
	if !strings.EqualFold(m.Codec, "video/H264") {
		t.Errorf("video codec %q, want H.264", m.Codec)
	}
	t.Logf("delay at the viewer: video jitter buffer %.0f ms, audio jitter buffer %.0f ms, receive to display %.0f ms; %d frames dropped",
		m.VJitter, m.AJitter, m.Display, m.Dropped)
	if k := events["keyboard"]; k.Muted || !k.Paused {
		t.Errorf("keyboard: M and Space left muted=%v paused=%v", k.Muted, k.Paused)
	}
	if maxNow != 1 {
		t.Errorf("the audience counted %d WHEP viewers while the page played, want 1", maxNow)
	}
	if e, ok := events["offline-again"]; !ok {
		t.Error("the page did not go back to its poster when the broadcast ended")
	} else {
		t.Logf("the page showed its poster %d ms after the publisher left (reconnect grace %s): %s", e.MS, b.Cfg.ReconnectGrace, e.Text)
	}
	if e, ok := events["live-again"]; !ok || e.Advanced < 1 {
		t.Errorf("the page did not play again when the broadcast came back: %+v", e)
	} else {
		t.Logf("and was live again %d ms after the publisher came back", e.MS)
	}
	// Every session the page made was counted while it played and ended (the last one by
	// the page's DELETE, others when the stream ended or the page saw no more packets).
	testutil.Eventually(t, 10*time.Second, func() error {
		if now, joins := aud.count("event/whep"); now != 0 || joins < 2 {
			return fmt.Errorf("after the page stopped: %d viewers now, %d joins; want 0 and at least 2", now, joins)
		}
		return nil
	})
	if n := len(b.Logs.Lines("viewer sent DELETE")); n == 0 {
		t.Error("no session ended by DELETE")
	}

	// With the stream live: no codec in common is refused with the reason.
	if code, body := whepPost(t, b, "event", "application/sdp", vp9Offer); code != http.StatusUnsupportedMediaType || !strings.Contains(body, "VP9") {
		t.Errorf("no codec in common: %d %q, want 415 naming VP9", code, body)
	}
	for _, f := range []string{"watch-offline.png", "watch-live.png"} {
		if st, err := os.Stat(filepath.Join(artifacts, f)); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
}

// TestPhoneToViewer: a phone (headless Chromium, fake camera) goes live from the go-live
// page over WHIP, and a viewer (another Chromium) watches it over WHEP: the browser's H.264
// and Opus reach the viewer as they are, without a rendition.
func TestPhoneToViewer(t *testing.T) {
	requirePeers(t)
	dir := browserDir(t)
	b := startBeffroi(t, nil)
	phone := startProcess(t, t.Context(), "go-live page", "node", filepath.Join(dir, "golive.mjs"),
		"http://"+b.HTTPAddr()+"/go-live/event?key="+publishKey, "40")
	phone.cmd.Dir = dir
	testutil.Eventually(t, 60*time.Second, func() error {
		v, _, err := b.getStream("event")
		if err != nil {
			return err
		}
		if len(v.Tracks) < 2 {
			return fmt.Errorf("stream %q with %d tracks, want video and audio from the phone", v.State, len(v.Tracks))
		}
		return nil
	})
	events := watchLive(t, "http://"+b.HTTPAddr()+"/watch/event", 6, nil)
	m := events["measured"]
	if events["live"].Protocol != "webrtc" || m.Frames < 60 || !strings.EqualFold(m.Codec, "video/H264") ||
		!strings.EqualFold(m.ACodec, "audio/opus") || m.APackets == 0 {
		t.Errorf("viewer of the phone: %+v", m)
	}
	if n := len(b.Logs.Lines("WHEP session answered", "rendition=false")); n != 1 {
		t.Errorf("%d WHEP sessions without a rendition, want 1 (the phone's Opus needs none)", n)
	}
	t.Logf("phone to viewer: %dx%d, video jitter buffer %.0f ms, audio jitter buffer %.0f ms, receive to display %.0f ms",
		m.Width, m.Height, m.VJitter, m.AJitter, m.Display)
}
