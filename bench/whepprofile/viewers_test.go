package whepprofile

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/beffroi/beffroi/internal/rtcnet"
	"github.com/beffroi/beffroi/internal/rtctest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs/whep"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

const viewers = 10

// BenchmarkViewers plays a live stream (30 fps H.264 in 600-byte pictures, 5000-byte
// keyframes, Opus) to 10 pion viewers on loopback; an operation is one video frame
// reaching every viewer, so -benchtime 300x profiles 10 seconds of playback:
//
//	go test -run '^$' -bench Viewers -benchtime 300x -cpuprofile cpu.out ./bench/whepprofile
//
// The viewers run in the same process: their share of the profile is pion's receive path
// (go tool pprof -focus outputs/whep for the server side alone).
func BenchmarkViewers(b *testing.B) {
	reg := relay.NewRegistry(relay.RegistryOptions{Grace: time.Minute})
	b.Cleanup(reg.StopAll)
	st, err := reg.Add("concert", "pk-concert")
	if err != nil {
		b.Fatal(err)
	}
	n, err := rtcnet.Listen(rtcnet.Config{Interfaces: []string{"lo"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	s, err := whep.New(reg, whep.Config{Net: n})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	b.Cleanup(func() {
		hs.Close()
		_ = s.Close()
	})
	relaytest.Publish(b, st, relaytest.Options{Audio: relay.Opus, VideoSize: 600, KeySize: 5000}).Start()

	api := rtctest.API(b, nil)
	frames := make([]*atomic.Int64, viewers)
	for i := range frames {
		frames[i] = play(b, api, hs.URL+"/whep/concert")
	}
	least := func() int64 {
		m := frames[0].Load()
		for _, f := range frames[1:] {
			m = min(m, f.Load())
		}
		return m
	}
	testutil.WaitFor(b, "every viewer to play", func() bool { return least() > 0 })

	b.ResetTimer()
	start := least()
	for b.Loop() {
		want := least() + 1
		deadline := time.Now().Add(testutil.WaitTimeout)
		for least() < want {
			if time.Now().After(deadline) {
				b.Fatalf("a viewer got no video frame for %s", testutil.WaitTimeout)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(least()-start)/b.Elapsed().Seconds(), "frames/s/viewer")
}

// play connects a receive-only viewer to the WHEP endpoint url; the counter it returns
// counts the video frames (RTP packets with the marker bit) it received.
func play(b *testing.B, api *webrtc.API, url string) *atomic.Int64 {
	b.Helper()
	pc := rtctest.PeerConnection(b, api)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			b.Fatal(err)
		}
	}
	var frames atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo && pkt.Marker {
				frames.Add(1)
			}
		}
	})
	resp, err := http.Post(url, "application/sdp", strings.NewReader(rtctest.Offer(b, pc)))
	if err != nil {
		b.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("POST %s: %s: %s", url, resp.Status, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		b.Fatal(err)
	}
	return &frames
}
