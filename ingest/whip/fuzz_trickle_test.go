package whip

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/rtctest"
)

// trickleSession is the one pending session FuzzTrickle's inputs are PATCHed to, made again
// when it ended (an input may end it, so may time).
type trickleSession struct {
	h     http.Handler
	offer string
	loc   string
}

func (ts *trickleSession) location(t *testing.T) string {
	if ts.loc == "" {
		w := postFrom(ts.h, "127.0.0.1:40000", publishKey, ts.offer)
		if w.Code != http.StatusCreated {
			t.Fatalf("POST: %d %s", w.Code, w.Body.String())
		}
		ts.loc = w.Header().Get("Location")
	}
	return ts.loc
}

// FuzzTrickle feeds what a stranger holding a session URL could PATCH (RFC 8840 SDP
// fragments: trickled candidates, ICE restarts) through parseFrag and the PATCH handler of
// a live, pending session. parseFrag's results must be consistent (credentials go together,
// candidates are candidates); the handler must answer 200, 204 or a 4xx with a reason, never
// a 5xx nor a panic. Inputs whose candidates are off loopback stop after parsing: tests send
// nothing beyond 127.0.0.1.
func FuzzTrickle(f *testing.F) {
	// From TestTrickleAndICERestart: candidates, then a restart with new credentials.
	f.Add([]byte("a=ice-ufrag:Ab1c\r\na=ice-pwd:0123456789abcdefghijklmn\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"+
		"a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n"), false)
	f.Add([]byte("a=ice-ufrag:Zz9y\r\na=ice-pwd:nmlkjihgfedcba9876543210\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"+
		"a=candidate:2 1 udp 2130706431 127.0.0.1 50001 typ host\r\n"), true)
	f.Add([]byte("a=candidate:3 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\n"), false)
	f.Add([]byte("m=audio 9 RTP/AVP 0\r\na=mid:x\r\nm=video 9 RTP/AVP 0\r\na=candidate:4 1 udp 1 ::1 9 typ host\r\n"), false)
	f.Add([]byte("a=end-of-candidates"), false)
	f.Add([]byte("a=ice-ufrag:only\r\n"), true)
	f.Add([]byte("a=candidate:garbage\r\n"), false)
	f.Add([]byte("not sdp"), false)
	f.Add([]byte(""), true)
	f.Add([]byte("a=ice-ufrag:\x00\r\na=ice-pwd:\xff\r\n"), true)
	s := startServerWith(f, func(c *Config) { c.pendingTimeout = time.Hour })
	sess := &trickleSession{h: s.Handler(), offer: withoutCandidates(pionOffer(f))}
	f.Fuzz(func(t *testing.T, body []byte, restart bool) {
		frag, err := parseFrag(body)
		if err == nil {
			if (frag.ufrag == "") != (frag.pwd == "") {
				t.Errorf("%q: ufrag %q without pwd %q", body, frag.ufrag, frag.pwd)
			}
			for _, c := range frag.cands {
				if !strings.HasPrefix(c.Candidate, "candidate:") || (c.SDPMid == nil) == (c.SDPMLineIndex == nil) {
					t.Errorf("%q: candidate %+v", body, c)
				}
				if !rtctest.LoopbackCandidate(c.Candidate) {
					return
				}
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			patchOne(t, sess, body, restart)
		}()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("PATCH %q: no answer within 15 s", body)
		}
	})
}

func patchOne(t *testing.T, sess *trickleSession, body []byte, restart bool) {
	for range 2 {
		req := httptest.NewRequest(http.MethodPatch, sess.location(t), strings.NewReader(string(body)))
		req.Header.Set("Content-Type", sdpFragType)
		if restart {
			req.Header.Set("If-Match", "*")
		}
		w := httptest.NewRecorder()
		sess.h.ServeHTTP(w, req)
		switch code := w.Code; {
		case code == http.StatusNotFound:
			sess.loc = "" // the session ended: again, on a new one
			continue
		case code == http.StatusOK || code == http.StatusNoContent:
		case code >= 400 && code < 500:
			if strings.TrimSpace(w.Body.String()) == "" {
				t.Errorf("PATCH %q: %d without a reason", body, code)
			}
		default:
			t.Errorf("PATCH %q: %d %s, want 200, 204 or a 4xx", body, code, w.Body.String())
		}
		return
	}
}
