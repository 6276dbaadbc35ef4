package whip

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/beffroi/beffroi/internal/rtctest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// client is a pion publisher sending H.264 (an IDR every 10 frames) at 50 frames a second.
type client struct {
	pc    *webrtc.PeerConnection
	video *webrtc.TrackLocalStaticSample
}

func newClient(t *testing.T, networks []webrtc.NetworkType) *client {
	t.Helper()
	pc, err := rtctest.API(t, nil, networks...).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "beffroi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		_ = pc.Close()
		wg.Wait()
	})
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			frame := annexB([]byte{0x41, 0x9a, 0x02, 0x04, byte(i)})
			if i%10 == 0 {
				frame = annexB(testutil.SPS720(), testutil.PPS(), []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff})
			}
			if err := video.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
		}
	})
	return &client{pc: pc, video: video}
}

func (c *client) waitConnected(t *testing.T) {
	t.Helper()
	testutil.WaitFor(t, "the client to connect", func() bool {
		return c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

func videoFrames(st *relay.Stream) uint64 {
	for _, tr := range st.Info().Tracks {
		if tr.Kind == "video" {
			return tr.Frames
		}
	}
	return 0
}

// TestICETCPOnly: a publisher whose network lets no UDP through connects over ICE-TCP, to
// the one TCP port of the shared network.
func TestICETCPOnly(t *testing.T) {
	ts := startServer(t)
	c := newClient(t, []webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	resp, answer := post(t, ts.http.URL+"/whip/"+streamName, publishKey, rtctest.Offer(t, c.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s %s", resp.Status, answer)
	}
	if !strings.Contains(answer, " tcp ") || !strings.Contains(answer, "tcptype passive") {
		t.Fatalf("the answer has no ICE-TCP candidate:\n%s", answer)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	c.waitConnected(t)
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Errorf("selected pair %v (%v), want TCP", pair, err)
	}
	testutil.WaitFor(t, "video frames over ICE-TCP", func() bool { return videoFrames(ts.st) >= 20 })
}

// patch sends a PATCH with an SDP fragment.
func patch(t *testing.T, url, ifMatch, ctype, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// iceLines returns the ICE lines of an SDP (credentials, candidates), as a fragment.
func iceLines(sdp string, withCandidates bool) string {
	var b strings.Builder
	for l := range strings.Lines(sdp) {
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, "a=ice-ufrag:") || strings.HasPrefix(l, "a=ice-pwd:") ||
			strings.HasPrefix(l, "m=") || strings.HasPrefix(l, "a=mid:") ||
			withCandidates && strings.HasPrefix(l, "a=candidate:") {
			b.WriteString(l + "\r\n")
		}
	}
	return b.String()
}

// withoutCandidates removes the candidate lines of an SDP.
func withoutCandidates(sdp string) string {
	var b strings.Builder
	for l := range strings.Lines(sdp) {
		if !strings.HasPrefix(l, "a=candidate:") && !strings.HasPrefix(l, "a=end-of-candidates") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestTrickleAndICERestart: the publisher sends its offer without candidates and trickles
// them with PATCH (RFC 9725 4.3.1); later it restarts ICE with PATCH (4.3.2) and the media
// keeps flowing on the new ICE session. Stale entity tags and wrong requests are refused.
func TestTrickleAndICERestart(t *testing.T) {
	ts := startServer(t)
	c := newClient(t, []webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	// The offer goes at once, before any candidate.
	resp, answer := post(t, ts.http.URL+"/whip/"+streamName, publishKey, withoutCandidates(c.pc.LocalDescription().SDP))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s %s", resp.Status, answer)
	}
	session := ts.http.URL + resp.Header.Get("Location")
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Accept-Patch") != sdpFragType {
		t.Errorf("answer headers %v: want an ETag and Accept-Patch", resp.Header)
	}
	<-gathered
	frag := iceLines(c.pc.LocalDescription().SDP, true) + "a=end-of-candidates\r\n"

	if r, body := patch(t, session, etag, "application/sdp", frag); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("PATCH as application/sdp: %s %s, want 415", r.Status, body)
	}
	if r, body := patch(t, session, `"stale"`, sdpFragType, frag); r.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PATCH with a stale ETag: %s %s, want 412", r.Status, body)
	}
	if r, body := patch(t, session, etag, sdpFragType, "not sdp at all"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("PATCH with garbage: %s %s, want 400", r.Status, body)
	}
	if r, body := patch(t, ts.http.URL+"/whip/"+streamName+"/nosuchsession", etag, sdpFragType, frag); r.StatusCode != http.StatusNotFound {
		t.Errorf("PATCH of an unknown session: %s %s, want 404", r.Status, body)
	}
	if r, body := patch(t, session, etag, sdpFragType, frag); r.StatusCode != http.StatusNoContent {
		t.Fatalf("trickle PATCH: %s %s, want 204", r.Status, body)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	c.waitConnected(t)
	testutil.WaitFor(t, "video frames", func() bool { return videoFrames(ts.st) >= 20 })

	// ICE restart: new credentials from the client, new ones from the server.
	o, err = c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	restart := iceLines(c.pc.LocalDescription().SDP, true)
	if r, body := patch(t, session, etag, sdpFragType, restart); r.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("ICE restart without If-Match *: %s %s, want 428", r.Status, body)
	}
	r, newFrag := patch(t, session, "*", sdpFragType, restart)
	if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != sdpFragType {
		t.Fatalf("ICE restart: %s %s, want 200 with an SDP fragment", r.Status, newFrag)
	}
	newTag := r.Header.Get("ETag")
	if newTag == "" || newTag == etag || iceUfrag(newFrag) == iceUfrag(answer) || !strings.Contains(newFrag, "a=candidate:") {
		t.Fatalf("ICE restart answered ETag %s (was %s) and\n%s", newTag, etag, newFrag)
	}
	// The client's new answer: the first one with the server's new credentials and candidates.
	var b strings.Builder
	for l := range strings.Lines(withoutCandidates(answer)) {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + iceUfrag(newFrag) + "\r\n")
		case strings.HasPrefix(l, "a=ice-pwd:"):
			for fl := range strings.Lines(newFrag) {
				if strings.HasPrefix(fl, "a=ice-pwd:") {
					b.WriteString(fl)
				}
			}
			for fl := range strings.Lines(newFrag) {
				if strings.HasPrefix(fl, "a=candidate:") {
					b.WriteString(fl)
				}
			}
		default:
			b.WriteString(l)
		}
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: b.String()}); err != nil {
		t.Fatal(err)
	}
	before := videoFrames(ts.st)
	testutil.WaitFor(t, "video frames after the ICE restart", func() bool { return videoFrames(ts.st) >= before+50 })
	if c.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Errorf("client %s after the restart", c.pc.ConnectionState())
	}
	if r, body := patch(t, session, etag, sdpFragType, frag); r.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PATCH with the ETag of before the restart: %s %s, want 412", r.Status, body)
	}
	ts.logs.WaitFor(t, "ICE restarted")
}
