package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/relay/transcode"
)

// TestLadderWatchPage: the adaptive ladder as viewers meet it. A 1280x720 stream (RTMP from
// ffmpeg) is played on the watch page over LL-HLS by two Chromium pages, one behind a 1 Mbit/s
// link (DevTools network emulation). The multivariant playlist offers the source and the
// rungs below it (480p, 360p, 240p: the default ladder, never the source's size); the slow page
// plays a lower rung and keeps up with the clock while the fast one plays the source; freed,
// the slow page climbs by itself; the fast page's viewer picks 240p in the quality menu and
// gets it. The audience counts the two pages as two viewers, whatever quality they play.
func TestLadderWatchPage(t *testing.T) {
	requirePeers(t)
	browserDir(t)
	// Not in parallel: two Chromium pages decoding 720p and three rung encoders fill a small
	// machine by themselves; with the other tests' ffmpegs beside them, CI's two cores let the
	// loopback page render 347 frames in 30 s and stall 6 s, which says nothing of the ladder.
	b := startBeffroi(t, func(c *config.Config) { c.HLS.Ladder = transcode.DefaultLadder })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publish(t, ctx, b.PublishURL(publishKey), makeClip(t), 600)
	waitStream(t, b, "event", "live", 20*time.Second)

	const watch = 30
	type pageEvent = map[string]any
	pages := map[string]map[string]pageEvent{} // event -> page -> event
	var audience []map[string]int
	stopCount := make(chan struct{})
	countDone := make(chan struct{})
	go func() {
		// The audience while both pages play.
		defer close(countDone)
		for {
			select {
			case <-stopCount:
				return
			case <-time.After(2 * time.Second):
			}
			if body, err := b.get("/api/v1/streams/event/audience"); err == nil {
				var a struct {
					Now map[string]int `json:"now"`
				}
				if json.Unmarshal([]byte(body), &a) == nil {
					audience = append(audience, a.Now)
				}
			}
		}
	}()
	artifacts := artifactsDir(t, "ladder")
	t.Logf("screenshots of the watch pages in %s", artifacts)
	events := runDriver(t, "ladder.mjs", func(name string, e pageEvent) {
		if p, ok := e["page"].(string); ok {
			if pages[name] == nil {
				pages[name] = map[string]pageEvent{}
			}
			pages[name][p] = e
		}
	}, "http://"+b.HTTPAddr()+"/watch/event?mode=hls", artifacts, fmt.Sprint(watch))
	close(stopCount)
	<-countDone

	slow, fast := pages["watched"]["slow"], pages["watched"]["fast"]
	if slow == nil || fast == nil {
		t.Fatalf("driver events %v", events)
	}
	heights := func(e pageEvent, key string) []int {
		var out []int
		l, _ := e[key].([]any)
		for _, v := range l {
			f, _ := v.(float64)
			out = append(out, int(f))
		}
		return out
	}
	offered := heights(fast, "qualities")
	slices.Sort(offered)
	if !slices.Equal(offered, []int{240, 360, 480, 720}) {
		t.Fatalf("qualities offered %v, want 240, 360, 480 and the 720 source", offered)
	}
	if menu := fmt.Sprint(fast["menu"]); !strings.Contains(menu, "720p (source)") || !strings.Contains(menu, "240p") || fast["menuHidden"] == true {
		t.Errorf("quality menu %s (hidden %v), want Auto, 720p (source), 480p, 360p, 240p", menu, fast["menuHidden"])
	}
	slowPlayed, fastPlayed := heights(slow, "played"), heights(fast, "played")
	t.Logf("each second, the slow page played %v, the fast one %v", slowPlayed, fastPlayed)
	// The last third of the watch, once hls.js measured its link.
	tail := func(l []int) []int { return l[len(l)*2/3:] }
	for _, q := range tail(slowPlayed) {
		if q >= 720 {
			t.Errorf("the 1 Mbit/s page played the %dp source late in the watch (%v): want a lower rung", q, slowPlayed)
			break
		}
	}
	if q := tail(fastPlayed); !slices.Contains(q, 720) {
		t.Errorf("the fast page never played the source in the last third of the watch (%v)", fastPlayed)
	}
	for name, e := range map[string]pageEvent{"slow": slow, "fast": fast} {
		adv, _ := e["advanced"].(float64)
		stalled, _ := e["stalledMs"].(float64)
		frames, _ := e["frames"].(float64)
		stalls, _ := e["stalls"].([]any)
		t.Logf("%s page: %.1f s of media in %d s, %d stalls (%.0f ms: %v), %.0f frames", name, adv, watch, len(stalls), stalled, stalls, frames)
		// Playing: the media time advances with the clock, stalls and all (a page stuck on
		// a rung its link cannot carry, 720p at 1 Mbit/s, advances a third of the time).
		// Not yet "without stalling": in about half the runs a page freezes 5.3 s just
		// before a segment boundary (hls.js's model of the playlist slips by segments on a
		// merge, "Live playlist sliding" off by 4 s after its start-up level switches, and
		// it waits for data it believes it has); the slow page stalls 1 to 2 s on 360p
		// before it drops to 240p. The figures above are what to watch; issue 13 says the
		// rest.
		if adv < 0.6*watch {
			t.Errorf("%s page: %.1f s of media played in %d s (%.0f ms stalled)", name, adv, watch, stalled)
		}
	}
	if up := events["up"]; up == nil || toInt(up["quality"]) <= toInt(up["from"]) {
		t.Errorf("once its link was freed the slow page stayed at %v: %v", up["from"], up)
	}
	if p := events["picked"]; p == nil || toInt(p["quality"]) != 240 || p["auto"] != false {
		t.Errorf("picked 240p by hand: %v", p)
	} else if adv, _ := p["advanced"].(float64); adv < 1.5 {
		t.Errorf("after the pick the page played %.1f s of media in %v ms (want 1.5 s within 10 s)", adv, p["playMs"])
	}
	// Two viewers: a page switching between the source and the rungs keeps its session.
	if s1, s2 := fast["session"], slow["session"]; s1 == nil || s1 == s2 {
		t.Errorf("session tokens %v and %v: want one each", s1, s2)
	}
	twice := 0
	for _, a := range audience {
		if a["hls"] > 2 {
			t.Errorf("audience %v while two pages play: more than two viewers", a)
			break
		}
		if a["hls"] == 2 {
			twice++
		}
	}
	if twice == 0 {
		t.Errorf("the audience never counted the two pages: %v", audience)
	}
	if l := b.Logs.Lines("adaptive ladder started"); len(l) == 0 {
		t.Error("no \"adaptive ladder started\" in the log")
	}
}

func toInt(v any) int {
	f, _ := v.(float64)
	return int(f)
}
