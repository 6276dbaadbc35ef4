package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// TestAddAndDisableWhileLive adds a destination to a live stream, disables it, enables it
// again and removes it, checking what the platform (nginx) sees at each step.
func TestAddAndDisableWhileLive(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	n := startNginx(t)
	b := startBeffroi(t, nil)
	pub := publish(t, t.Context(), b.PublishURL(publishKey), clip, 60)
	waitStream(t, b, "event", "live", 10*time.Second)

	const key = "key-late-8c1d2f"
	added := time.Now()
	if err := b.Outputs.Add("event", outputs.DestinationConfig{Name: "late", URL: n.URL(key), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	waitDest(t, b, "event", "late", outputs.StateLive, 10*time.Second)
	t.Logf("added destination live after %s", time.Since(added).Round(time.Millisecond))
	testutil.Eventually(t, 10*time.Second, func() error {
		if recs := n.Recordings(); len(recs) != 1 || fileSize(recs[0]) < 500_000 {
			return fmt.Errorf("nginx recordings: %v", recs)
		}
		return nil
	})
	first := n.Recordings()[0]

	// Disabled: the session ends at once.
	if err := b.Outputs.SetEnabled("event", "late", false); err != nil {
		t.Fatal(err)
	}
	st := waitDest(t, b, "event", "late", outputs.StateDisabled, 5*time.Second)
	if st.Enabled {
		t.Errorf("disabled destination shows enabled: %+v", st)
	}
	n.WaitClosed(t, 1)
	size := fileSize(first)
	t.Logf("nginx saw the session end; %s holds %d bytes", first, size)

	// Enabled again: a new session, so a second file. record_unique names files by the second
	// the session started: make sure the new one cannot take the first one's name.
	time.Sleep(time.Until(fileTime(t, first).Add(1100 * time.Millisecond)))
	enabled := time.Now()
	if err := b.Outputs.SetEnabled("event", "late", true); err != nil {
		t.Fatal(err)
	}
	waitDest(t, b, "event", "late", outputs.StateLive, 10*time.Second)
	t.Logf("re-enabled destination live after %s", time.Since(enabled).Round(time.Millisecond))
	testutil.Eventually(t, 10*time.Second, func() error {
		if recs := n.Recordings(); len(recs) != 2 {
			return fmt.Errorf("nginx recordings: %v, want 2", recs)
		}
		return nil
	})
	if got := fileSize(first); got != size {
		t.Errorf("the first recording grew after its session ended: %d -> %d bytes", size, got)
	}
	second := n.Recordings()[1]
	testutil.Eventually(t, 10*time.Second, func() error {
		if s := fileSize(second); s < 500_000 {
			return fmt.Errorf("second recording holds %d bytes", s)
		}
		return nil
	})

	// Removed: gone from the list, session closed.
	if err := b.Outputs.Remove("event", "late"); err != nil {
		t.Fatal(err)
	}
	if _, ok := destStatus(b, "event", "late"); ok {
		t.Errorf("removed destination still listed: %+v", b.Outputs.List("event"))
	}
	if v := apiStream(t, b, "event"); len(v.Destinations) != 0 || !v.Live {
		t.Errorf("API after removal: live=%v destinations=%+v", v.Live, v.Destinations)
	}
	n.WaitClosed(t, 2)
	if pub.Exited() {
		t.Fatalf("the publisher stopped: %v\n%s", pub.err, pub.stderr.String())
	}
	for _, f := range []string{first, second} {
		r := probe(t, f)
		t.Logf("%s: %+v", f, r)
		if r.Video != "h264" || r.Audio != "aac" || r.Width != 1280 || r.Duration < 1 {
			t.Errorf("%s: %+v, want h264 1280x720 + aac", f, r)
		}
		dts := packetDTS(t, f, "v")
		assertIncreasing(t, f, dts)
		if len(dts) > 0 {
			t.Logf("%s: %d video packets, DTS %.3f to %.3f", f, len(dts), dts[0], dts[len(dts)-1])
		}
	}
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), key, publishKey)
}

// TestLateDestinationToGortmplibServer adds, a few seconds into a broadcast, a destination
// whose server reads RTMP with gortmplib (here a second Beffroi; mediamtx is another): the
// server must get both the video and the audio track.
func TestLateDestinationToGortmplibServer(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	const secondKey = "second-publish-key"
	second := startNamedBeffroi(t, "second", func(c *config.Config) {
		c.Streams = []config.Stream{{Name: "relay", PublishKey: secondKey}}
	})
	first := startNamedBeffroi(t, "first", nil)
	publish(t, t.Context(), first.PublishURL(publishKey), clip, 20)
	waitStream(t, first, "event", "live", 10*time.Second)
	// Wait until the ring holds a keyframe 2 s or more into the timeline.
	testutil.Eventually(t, 10*time.Second, func() error {
		v, _, err := first.getStream("event")
		if err != nil {
			return err
		}
		if n := videoFrames(v); n < 100 {
			return fmt.Errorf("%d video frames so far", n)
		}
		return nil
	})
	if err := first.Outputs.Add("event", outputs.DestinationConfig{
		Name: "second", URL: "rtmp://" + second.RTMPAddr() + "/live/" + secondKey, Enabled: true,
	}); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		v, _, err := second.getStream("relay")
		if err != nil {
			t.Fatal(err)
		}
		kinds = kinds[:0]
		for _, tr := range v.Tracks {
			kinds = append(kinds, tr.Kind)
		}
		if v.Live && len(kinds) == 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(kinds) != 2 {
		t.Fatalf("second instance: tracks %v, want video and audio", kinds)
	}
	// The session holds.
	time.Sleep(2 * time.Second)
	if s, _ := destStatus(first, "event", "second"); s.State != outputs.StateLive || s.Reconnects != 0 {
		t.Errorf("destination to the second instance: %+v, want live without reconnects", s)
	}
}

// videoFrames returns the video frames the stream received in its session.
func videoFrames(v streamView) int {
	for _, tr := range v.Tracks {
		if tr.Kind == "video" {
			return tr.Frames
		}
	}
	return 0
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// fileTime returns the start time nginx's record_unique wrote into a recording's name
// (KEY-UNIXTIME.flv).
func fileTime(t *testing.T, path string) time.Time {
	t.Helper()
	name := strings.TrimSuffix(path, ".flv")
	var sec int64
	if _, err := fmt.Sscanf(name[strings.LastIndex(name, "-")+1:], "%d", &sec); err != nil {
		t.Fatalf("recording name %s: %v", path, err)
	}
	return time.Unix(sec, 0)
}
