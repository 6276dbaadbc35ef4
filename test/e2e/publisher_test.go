package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// withNginx makes the stream "event" push to each nginx as destination "nginxN".
func withNginx(ns ...*nginx) func(*config.Config) {
	return func(c *config.Config) {
		for i, n := range ns {
			c.Streams[0].Destinations = append(c.Streams[0].Destinations, config.Destination{
				Name: "nginx" + strconv.Itoa(i+1), URL: n.URL(fmt.Sprintf("platform-key-%d", i+1)),
			})
		}
	}
}

// singleRecording waits for nginx to close its sessions and returns its only recording.
func singleRecording(t *testing.T, n *nginx) string {
	t.Helper()
	n.WaitClosed(t, 1)
	recs := n.Recordings()
	if len(recs) != 1 {
		t.Fatalf("nginx :%d recorded %d files, want 1 (one publish session): %v\n%s",
			n.port, len(recs), recs, n.ErrorLog())
	}
	if c := n.Count(" publish: "); c != 1 {
		t.Errorf("nginx :%d saw %d publish sessions, want 1", n.port, c)
	}
	return recs[0]
}

// TestPublisherReconnectWithinGrace: the encoder goes away for 3 s and comes back; the
// platforms keep one session whose timestamps follow the wall clock across the gap.
func TestPublisherReconnectWithinGrace(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	n1, n2 := startNginx(t), startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n1, n2)(c)
		c.Standby.Enabled = false // the gap itself is under test here (TestStandbyDuringGrace fills it)
	})

	if err := publish(t, t.Context(), b.PublishURL(publishKey), clip, 6).Wait(t, 20*time.Second); err != nil {
		t.Fatalf("first publish: %v", err)
	}
	gone := time.Now()
	v := waitStream(t, b, "event", "reconnecting", 5*time.Second)
	if !v.Live {
		t.Errorf("API during the grace: live=false, want true (the session goes on)")
	}
	for _, d := range []string{"nginx1", "nginx2"} {
		if s, _ := destStatus(b, "event", d); s.State != outputs.StateLive {
			t.Errorf("destination %q during the grace: %q, want live", d, s.State)
		}
	}
	time.Sleep(time.Until(gone.Add(3 * time.Second))) // the encoder's absence
	second := publish(t, t.Context(), b.PublishURL(publishKey), clip, 6)
	v = waitStream(t, b, "event", "live", 10*time.Second)
	if v.Publishes != 2 {
		t.Errorf("API after the return: publishes=%d, want 2", v.Publishes)
	}
	if err := second.Wait(t, 20*time.Second); err != nil {
		t.Fatalf("second publish: %v", err)
	}
	for _, d := range []string{"nginx1", "nginx2"} {
		if s, _ := destStatus(b, "event", d); s.Reconnects != 0 {
			t.Errorf("destination %q reconnected: %+v", d, s)
		}
	}
	m := missedStart(t, b, "event", "nginx1", "nginx2")
	missed := map[*nginx]float64{n1: m["nginx1"], n2: m["nginx2"]}
	b.Stop(t)
	for _, n := range []*nginx{n1, n2} {
		rec := singleRecording(t, n)
		r := checkRecording(t, rec, 1280, 720, 6+3+6-missed[n], 3.5) // made precise below
		for _, s := range []string{"v", "a"} {
			dts := packetDTS(t, rec, s)
			assertIncreasing(t, rec+" "+s, dts)
			step, at := maxGap(dts)
			t.Logf("%s (%s): largest DTS step %.2f s at %.2f s", filepath.Base(rec), s, step, at)
			// The encoder was away 3 s, plus its start-up (well under a second here).
			switch {
			case step >= 2.5 && step <= 4.5:
			case step > 4.5 && step <= 8 && s == "v":
				t.Logf("%s: lasts %.2f s for 6+3+6 s of publishing and absence", rec, r.Duration)
				t.Errorf("a 3 s absence of the encoder shows as a %.1f s step in the timestamps "+
					"the platforms get: the timeline must follow the wall clock from the moment the "+
					"encoder reconnects, or the platforms' latency grows with every reconnect",
					math.Round(step*2)/2)
			case step > 8 || step < 2.5:
				t.Errorf("%s: the 3 s absence shows as a %.2f s step in the %s timestamps", rec, step, s)
			}
			if d := r.Duration - (12 + step - missed[n]); d > 1 || d < -1 {
				t.Errorf("%s: lasts %.2f s, want 12 s of media + the %.2f s step - %.1f s missed",
					rec, r.Duration, step, missed[n])
			}
		}
	}
}

// TestTakeover: a second encoder with the same key takes over from the first at once (a phone
// that changed network leaves a half-open connection behind).
func TestTakeover(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	n := startNginx(t)
	b := startBeffroi(t, withNginx(n))

	a := publish(t, t.Context(), b.PublishURL(publishKey), clip, 30)
	before := waitStream(t, b, "event", "live", 10*time.Second)
	waitDest(t, b, "event", "nginx1", outputs.StateLive, 10*time.Second)
	time.Sleep(2 * time.Second) // some of A's media on the platform
	bp := publish(t, t.Context(), b.PublishURL(publishKey), clip, 6)
	// A's connection is closed: its ffmpeg stops by itself.
	err := a.Wait(t, 10*time.Second)
	t.Logf("publisher A exited (code %d) after the takeover: %s", exitCode(err), lastLine(a.stderr.String()))
	after := apiStream(t, b, "event")
	if !after.Live || after.Source == nil || before.Source == nil ||
		after.Source.RemoteAddr == before.Source.RemoteAddr {
		t.Errorf("after the takeover: live=%v source %+v, before %+v", after.Live, after.Source, before.Source)
	}
	if bp.Exited() {
		t.Fatalf("publisher B stopped: %v\n%s", bp.err, bp.stderr.String())
	}
	if l := b.Logs.Lines("replaced by a newer connection"); len(l) == 0 {
		t.Errorf("no log line about the takeover")
	}
	if err := bp.Wait(t, 20*time.Second); err != nil {
		t.Fatalf("publisher B: %v", err)
	}
	if s, _ := destStatus(b, "event", "nginx1"); s.State != outputs.StateLive || s.Reconnects != 0 {
		t.Errorf("destination after the takeover: %+v", s)
	}
	b.Stop(t)
	rec := singleRecording(t, n)
	r := probe(t, rec)
	t.Logf("%s: %+v", filepath.Base(rec), r)
	if r.Video != "h264" || r.Audio != "aac" || r.Width != 1280 || r.Height != 720 || r.Duration < 7 {
		t.Errorf("%s: %+v, want h264 1280x720 + aac, A's seconds + B's 6 s", rec, r)
	}
	assertIncreasing(t, rec, packetDTS(t, rec, "v"))
	assertIncreasing(t, rec+" audio", packetDTS(t, rec, "a"))
}

// TestWrongKeyRefused: a wrong publish key is refused, and the log says so without the key.
func TestWrongKeyRefused(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	b := startBeffroi(t, nil)
	const wrong = "wrong-key-c0ffee"
	p := publish(t, t.Context(), b.PublishURL(wrong), clip, 5)
	err := p.Wait(t, 15*time.Second)
	if err == nil {
		t.Errorf("ffmpeg publishing with a wrong key exited with 0; output:\n%s", p.stderr.String())
	}
	t.Logf("ffmpeg with a wrong key: exit code %d: %s", exitCode(err), lastLine(p.stderr.String()))
	if v := apiStream(t, b, "event"); v.Live || v.State != "idle" {
		t.Errorf("stream after a refused publish: live=%v state=%q", v.Live, v.State)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(b.Logs.Lines("refused")) == 0 {
			return fmt.Errorf("no log line about the refusal")
		}
		return nil
	})
	t.Logf("refusal: %s", b.Logs.Lines("refused")[0])
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), wrong, publishKey)
}

// TestResolutionChange: the encoder comes back within the grace in 640x360 instead of
// 1280x720; the platform keeps one session and decodes both.
func TestResolutionChange(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	big, small := makeClip(t), makeSmallClip(t)
	n := startNginx(t)
	b := startBeffroi(t, withNginx(n))
	if err := publish(t, t.Context(), b.PublishURL(publishKey), big, 4).Wait(t, 20*time.Second); err != nil {
		t.Fatalf("720p publish: %v", err)
	}
	waitStream(t, b, "event", "reconnecting", 5*time.Second)
	if err := publish(t, t.Context(), b.PublishURL(publishKey), small, 4).Wait(t, 20*time.Second); err != nil {
		t.Fatalf("360p publish: %v", err)
	}
	if s, _ := destStatus(b, "event", "nginx1"); s.Reconnects != 0 {
		t.Errorf("destination reconnected: %+v", s)
	}
	if l := b.Logs.Lines("new track parameters"); len(l) == 0 {
		t.Errorf("no log line about the new track parameters")
	}
	b.Stop(t)
	rec := singleRecording(t, n)
	r := probe(t, rec)
	t.Logf("%s: %+v", filepath.Base(rec), r)
	if r.Video != "h264" || r.Audio != "aac" {
		t.Errorf("%s: %+v, want h264 + aac", rec, r)
	}
	assertIncreasing(t, rec, packetDTS(t, rec, "v"))

	if msg := decodeAll(t, rec); msg != "" {
		t.Errorf("decoding %s: %s", rec, msg)
	}
	sizes := frameSizes(t, rec)
	t.Logf("decoded frame sizes, in order: %s", strings.Join(sizes, " -> "))
	if !slices.Equal(sizes, []string{"1280x720", "640x360"}) {
		t.Errorf("decoded sizes %v, want 1280x720 then 640x360", sizes)
	}
}

// frameSizes decodes the video and returns its frame sizes, consecutive repeats collapsed.
func frameSizes(t *testing.T, file string) []string {
	t.Helper()
	sizes, _ := switches(frameTimes(t, file))
	return sizes
}

// lastLine returns the last non-empty line of a process's output.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
