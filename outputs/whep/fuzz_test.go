package whep

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/rtctest"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

// FuzzOffer feeds what any stranger can POST to /whep/<stream> through the whole HTTP path
// of a live stream: parsing, codec choice, pion's answer, the session. Every input must end
// in 201 (then DELETE ends the session) or a 4xx with a reason: never a panic, never a 5xx
// that says Beffroi failed, never a session left behind. Inputs with a candidate off loopback
// are skipped: tests send nothing beyond 127.0.0.1.
func FuzzOffer(f *testing.F) {
	chromium, err := os.ReadFile("testdata/chromium-offer.sdp") // a viewer page's offer, candidates removed
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chromium)
	f.Add([]byte(strings.ReplaceAll(string(chromium), "H264", "H265")))
	f.Add([]byte(strings.ReplaceAll(string(chromium), "opus", "speex")))
	f.Add([]byte(strings.ReplaceAll(string(chromium), "a=recvonly", "a=sendonly")))
	f.Add(chromium[:len(chromium)/2])
	f.Add([]byte(strings.ReplaceAll(string(chromium), "\r\n", "\n")))
	// TestRefused's table.
	f.Add([]byte("v=0\r\nthis is not SDP\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1\r\na=setup:actpass\r\na=mid:0\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\na=fingerprint:sha-256 00\r\na=recvonly\r\n"))
	f.Add([]byte(""))
	f.Add([]byte("\x00\xff\xfe garbage"))
	pc := rtctest.PeerConnection(f, rtctest.API(f, nil))
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add([]byte(rtctest.Offer(f, pc))) // pion's, with loopback candidates

	ts := startServerWith(f, nil, nil)
	o := feedMedia
	o.Source = relay.SourceInfo{Protocol: "test", RemoteAddr: "test"}
	o.Audio = relay.Opus
	relaytest.Publish(f, ts.st, o).Start()
	h := ts.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		if !rtctest.LoopbackOnly(body) {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			playOne(t, h, body)
		}()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("offer %q: no answer within 15 s", body)
		}
		if n := ts.Sessions(); n != 0 {
			t.Fatalf("offer %q: %d sessions left", body, n)
		}
	})
}

// playOne posts one offer and checks the answer.
func playOne(t *testing.T, h http.Handler, body []byte) {
	req := httptest.NewRequest(http.MethodPost, "/whep/"+streamName, strings.NewReader(string(body)))
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/sdp")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	switch code := w.Code; {
	case code == http.StatusCreated:
		loc := w.Header().Get("Location")
		dw := httptest.NewRecorder()
		h.ServeHTTP(dw, httptest.NewRequest(http.MethodDelete, loc, nil))
		if dw.Code != http.StatusOK {
			t.Errorf("DELETE %s: %d", loc, dw.Code)
		}
	case code >= 400 && code < 500:
		if strings.TrimSpace(w.Body.String()) == "" {
			t.Errorf("offer %q: %d without a reason", body, code)
		}
	default:
		t.Errorf("offer %q: status %d (%s), want 201 or 4xx", body, code, w.Body.String())
	}
}

// TestChromiumOfferAccepted: the real Chromium viewer offer FuzzOffer starts from is
// answered 201, with H.264 video and Opus audio.
func TestChromiumOfferAccepted(t *testing.T) {
	chromium, err := os.ReadFile("testdata/chromium-offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, nil)
	feed(t, ts.st, relay.Opus)
	w := postFrom(ts.Handler(), "127.0.0.1:40000", string(chromium))
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), "H264/90000") || !strings.Contains(w.Body.String(), "opus/48000") {
		t.Fatalf("%d %s: want 201 with H.264 and Opus", w.Code, w.Body.String())
	}
}
