package whip

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/rtctest"
)

// pionOffer returns the offer of a pion publisher with H.264 and Opus tracks.
func pionOffer(t testing.TB) string {
	api := rtctest.API(t, nil)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() //nolint:errcheck // test cleanup
	for _, c := range []webrtc.RTPCodecCapability{
		{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
	} {
		tr, err := webrtc.NewTrackLocalStaticSample(c, "t", "s")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	return rtctest.Offer(t, pc)
}

// FuzzOffer feeds what a stranger could send as an offer through what the server does with
// it before any session exists: the codec check of the HTTP handler (offeredCodecs), then
// pion's parsing and the answer (answerOffer), on a PeerConnection of the server's own API.
// Garbage must end in a 4xx (never a panic, never a 5xx that says Beffroi failed); the full
// HTTP path of accepted offers is TestChromiumOfferAccepted's. Inputs with a candidate off
// loopback are skipped: tests send nothing beyond 127.0.0.1.
func FuzzOffer(f *testing.F) {
	chromium, err := os.ReadFile("testdata/chromium-offer.sdp")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chromium)
	f.Add([]byte(strings.ReplaceAll(string(chromium), "H264", "H265"))) // no codec Beffroi takes video in
	f.Add(chromium[:len(chromium)/2])                                   // truncated
	f.Add([]byte(strings.ReplaceAll(string(chromium), "\r\n", "\n")))
	f.Add([]byte(strings.ReplaceAll(string(chromium), "a=rtpmap:", "a=rtpmap: ")))
	f.Add([]byte(strings.ReplaceAll(string(chromium), "m=audio 9 UDP/TLS/RTP/SAVPF", "m=audio 9")))
	f.Add([]byte(""))
	f.Add([]byte("v=0\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=setup:actpass\r\na=mid:0\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\na=fingerprint:sha-256 00\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\r\nm=\r\na=rtpmap:\r\na=rtpmap:96\r\na=rtpmap:96 /\r\n"))
	f.Add([]byte("\x00\xff\xfe garbage"))
	f.Add([]byte(pionOffer(f)))
	s := startServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		// An input that hangs the server is a finding too (a stranger could hold a
		// request, and its goroutines, forever): fail it, so the fuzzer keeps it.
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzOne(t, s, h, body)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("offer %q: no answer within 10 s", body)
		}
	})
}

func fuzzOne(t *testing.T, s *testServer, h http.Handler, body []byte) {
	if !rtctest.LoopbackOnly(body) {
		return // the server would send connectivity checks off this machine
	}
	{
		offered, err := offeredCodecs(body)
		if err != nil || !anySupported(offered) {
			// The handler answers before pion sees it: check it says why, with a 4xx.
			post1(t, h, body)
			return
		}
		pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close() //nolint:errcheck // each input's own
		if _, status, err := answerOffer(pc, string(body)); err != nil && status >= 500 {
			t.Errorf("offer %q: %d %v, want a 4xx", body, status, err)
		}
	}
}

// post1 posts one offer and checks the answer.
func post1(t *testing.T, h http.Handler, body []byte) {
	req := httptest.NewRequest(http.MethodPost, "/whip/"+streamName, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+publishKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	switch code := w.Code; {
	case code == http.StatusCreated && body != nil:
		loc := w.Header().Get("Location")
		del := httptest.NewRequest(http.MethodDelete, loc, nil)
		dw := httptest.NewRecorder()
		h.ServeHTTP(dw, del)
		if dw.Code != http.StatusOK {
			t.Errorf("DELETE %s: %d", loc, dw.Code)
		}
	case code >= 400 && code < 500:
		if strings.TrimSpace(w.Body.String()) == "" {
			t.Errorf("%d without a reason", code)
		}
		if strings.Contains(w.Body.String(), publishKey) {
			t.Errorf("the answer holds the publish key")
		}
	default:
		t.Errorf("offer %q: status %d (%s), want 201 or 4xx", body, code, w.Body.String())
	}
}

// TestChromiumOfferAccepted: the real Chromium offer the fuzzer starts from is answered 201.
func TestChromiumOfferAccepted(t *testing.T) {
	chromium, err := os.ReadFile("testdata/chromium-offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	h := startServer(t).Handler()
	req := httptest.NewRequest(http.MethodPost, "/whip/"+streamName, strings.NewReader(string(chromium)))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+publishKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusCreated || firstVideoCodec(t, w.Body.String()) != "H264" {
		t.Fatalf("status %d, video %q: want 201 with H264", w.Code, firstVideoCodec(t, w.Body.String()))
	}
	del := httptest.NewRecorder()
	h.ServeHTTP(del, httptest.NewRequest(http.MethodDelete, w.Header().Get("Location"), nil))
	if del.Code != http.StatusOK {
		t.Errorf("DELETE: %d", del.Code)
	}
}
