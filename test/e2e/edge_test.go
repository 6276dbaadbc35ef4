package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/bench/hlscrowd"
	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/deploy/edges"
	"github.com/beffroi/beffroi/internal/testutil"
)

// requireEdges skips the test when nginx or Varnish is missing (a failure with
// BEFFROI_E2E=require).
func requireEdges(t *testing.T) {
	t.Helper()
	requirePeers(t)
	if missing := edges.Available(); len(missing) > 0 {
		msg := "edge peers missing: " + strings.Join(missing, ", ") + " (apt-get install nginx varnish, or run .ci/run)"
		if os.Getenv("BEFFROI_E2E") == "require" {
			t.Fatal(msg + "; BEFFROI_E2E=require")
		}
		t.Skip(msg)
	}
}

// startEdge runs one of the shipped edge configurations (deploy/edges) in front of origin,
// until the test ends.
func startEdge(t *testing.T, kind, origin string) *edges.Edge {
	t.Helper()
	e, err := edges.Start(t.Context(), kind, origin, filepath.Join(t.TempDir(), kind))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("%s edge output:\n%s", kind, e.Output())
		}
	})
	return e
}

// TestEdgesCountAndCache: a real Beffroi process behind two edges made from the shipped
// configurations (nginx proxy_cache and Varnish, each on its own port), 48 simulated LL-HLS
// players split across them (blocking playlist requests, every part, a beacon every 2 s as
// the watch page sends) and 12 players on the origin itself (half of them beaconing too).
// Parts come from the edges' caches (one origin request per part and edge), the edges never
// pass a session token in a cached URL, and the origin counts every player once: 60 within
// 2 %, and as many distinct viewers as tokens.
func TestEdgesCountAndCache(t *testing.T) {
	requireEdges(t)
	t.Parallel()
	clip := makeSmallClip(t)
	data := t.TempDir()
	conf := processConfig(data, fmt.Sprintf("streams:\n  - name: event\n    publish_key: %s\n", publishKey))
	// The edges are on 127.0.0.1: their X-Forwarded-For names each player's own address.
	conf = strings.Replace(conf, `http: {addr: "127.0.0.1:0"}`, `http: {addr: "127.0.0.1:0", trusted_proxies: [127.0.0.1]}`, 1)
	conf += "audience: {window: 4s, beacon_window: 7s}\n"
	b := startBeffroiProcessWith(t, "beffroi origin", data, conf)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	publish(t, ctx, "rtmp://"+b.rtmpAddr+"/live/"+publishKey, clip, 90)
	origin := "http://" + b.httpAddr
	testutil.Eventually(t, 20*time.Second, func() error {
		if resp, _ := httpGet(t, origin+"/hls/event/index.m3u8"); resp.StatusCode != 200 {
			return fmt.Errorf("multivariant playlist: %s", resp.Status)
		}
		return nil
	})
	ng := startEdge(t, edges.Nginx, b.httpAddr)
	va := startEdge(t, edges.Varnish, b.httpAddr)

	// Through an edge, the multivariant playlist is the origin's (never cached) and its
	// media playlist URLs carry no token: the session data does.
	for _, e := range []*edges.Edge{ng, va} {
		resp, body := httpGet(t, e.URL+"/hls/event/index.m3u8")
		if resp.StatusCode != 200 || strings.Contains(string(body), "session=") || !strings.Contains(string(body), "#EXT-X-SESSION-DATA:") {
			t.Fatalf("multivariant playlist through %s: %s\n%s", e.Kind, resp.Status, body)
		}
		if s := resp.Header.Get("X-Cache-Status") + resp.Header.Get("X-Cache"); s == "HIT" {
			t.Errorf("the multivariant playlist through %s came from its cache", e.Kind)
		}
	}

	viaEdges := &hlscrowd.Load{Base: origin, Edges: []string{ng.URL, va.URL}, Stream: "event", Token: adminToken,
		BeaconEvery: 2 * time.Second, OwnAddresses: true}
	direct := &hlscrowd.Load{Base: origin, Stream: "event", Token: adminToken, BeaconEvery: 2 * time.Second, OwnAddresses: true}
	edgeCrowd, directCrowd := hlscrowd.NewCrowd(viaEdges), hlscrowd.NewCrowd(direct)
	defer edgeCrowd.Close()
	defer directCrowd.Close()
	// Distinct addresses for the two crowds (each dials from 127.1.x.y by its index).
	if err := directCrowd.Join(ctx, 12); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := edgeCrowd.Join(ctx, 12); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	truth := func() int { return edgeCrowd.Active() + directCrowd.Active() }
	if truth() != 60 {
		t.Fatalf("%d players started, want 60", truth())
	}
	// Every player beacons within 2 s of joining, the direct ones reload their playlists.
	testutil.Eventually(t, 20*time.Second, func() error {
		now, _, err := direct.Counted(ctx)
		if err != nil {
			return err
		}
		if now["total"] != truth() {
			return fmt.Errorf("counted %v, truth %d", now, truth())
		}
		return nil
	})
	edgeCrowd.Stats.Reset()
	directCrowd.Stats.Reset()
	o0 := originRequests(t, ng, va)
	var counts []int
	for range 12 {
		time.Sleep(500 * time.Millisecond)
		now, _, err := direct.Counted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, now["total"])
		if d := now["total"] - truth(); d*50 > truth() || -d*50 > truth() {
			t.Errorf("counted %v, truth %d: more than 2 %% apart", now, truth())
		}
	}
	o1 := originRequests(t, ng, va)
	t.Logf("counted every 0.5 s: %v (truth %d)", counts, truth())
	_, distinct, err := direct.Counted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := edgeCrowd.Distinct() + directCrowd.Distinct(); distinct != want {
		t.Errorf("distinct viewers %d, want %d (the players' tokens)", distinct, want)
	}

	// The caches: parts from the edges' caches (one miss per part and edge, 24 players each),
	// blocking playlist answers collapsed too; the origin sees a small share of the requests.
	for _, e := range []*edges.Edge{ng, va} {
		for _, kind := range []string{"part", "blocking"} {
			hits, total := edgeCrowd.Stats.Cache(kind + " " + e.URL)
			t.Logf("%s: %s answers %d, %d from its cache (%.1f %%)", e.Kind, kind, total, hits, 100*float64(hits)/float64(max(total, 1)))
			if total == 0 {
				t.Errorf("%s: no %s answer with a cache status", e.Kind, kind)
			} else if kind == "part" && float64(hits) < 0.9*float64(total) {
				t.Errorf("%s: %d of %d parts from the cache, want at least 90 %%", e.Kind, hits, total)
			}
		}
	}
	// The players' requests: answered, and refused (a player behind on a loaded machine asks
	// for parts gone from the live window: each name reaches the origin once per edge).
	reqs, _ := edgeCrowd.Stats.Requests()
	for what, n := range edgeCrowd.Stats.Errors() {
		t.Logf("%d player errors: %s", n, what)
		if what != "part dropped (player behind)" {
			reqs += int64(n)
		}
	}
	sent := o1 - o0
	t.Logf("players' requests through the edges %d, the edges' requests to the origin %d (%.1f %%; about 6 %% when the players keep up)",
		reqs, sent, 100*float64(sent)/float64(max(reqs, 1)))
	if sent*2 > reqs {
		t.Errorf("the edges sent %d requests to the origin for the players' %d: the caches collapse too little", sent, reqs)
	}

	// Viewers leave: the edge viewers drop out once their beacons stop, the direct ones
	// once their playlist window is over.
	edgeCrowd.Leave(24)
	directCrowd.Leave(6)
	testutil.Eventually(t, 20*time.Second, func() error {
		now, _, err := direct.Counted(ctx)
		if err != nil {
			return err
		}
		if now["total"] != truth() {
			return fmt.Errorf("counted %v after 30 left, truth %d", now, truth())
		}
		return nil
	})
}

// originRequests sums what the edges sent to the origin so far (fetches and passes: the
// beacons too).
func originRequests(t *testing.T, l ...*edges.Edge) int64 {
	t.Helper()
	var n int64
	for _, e := range l {
		o, err := e.OriginRequests(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", e.Kind, err)
		}
		n += o.Fetches + o.Passes
	}
	return n
}

// TestWatchPageThroughEdges: the watch page opened on each edge (nginx, then Varnish) plays
// LL-HLS in headless Chromium close to live, and is counted once, by its beacons, with the
// token the multivariant playlist's session data gave it; no media playlist URL the edge saw
// carried a token. The pages play one after the other (two browsers at once on a loaded
// machine measure the machine). The latency bound is generous (6 s: an edge adds a hop to
// every collapsed request, nginx's lock up to 0.5 s, and the suite runs under the race
// detector on a loaded machine): this checks behaviour, the figures are in bench/README.md.
func TestWatchPageThroughEdges(t *testing.T) {
	requireEdges(t)
	browserDir(t)
	t.Parallel()
	b := startBeffroi(t, func(c *config.Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1"} })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	publish(t, ctx, b.PublishURL(publishKey), clip(t, "640x360", "-g", "30"), 600)
	waitStream(t, b, "event", "live", 15*time.Second)
	for i, kind := range []string{edges.Nginx, edges.Varnish} {
		e := startEdge(t, kind, b.HTTPAddr())
		ev := watchLatency(t, e.URL+"/watch/event?mode=hls", 14, 0)
		s := ev["settled"]
		t.Logf("%s: the watch page plays %.2f s behind live (%.2f s in its first 2 s)", kind, s.Behind, s.Start)
		if s.Behind <= 0 || s.Behind > 6 {
			t.Errorf("%s: the watch page plays %.2f s behind live, want at most 6 s", kind, s.Behind)
		}
		// The page beaconed (every 12 s) while it played; the previous page's viewer may
		// still be within its beacon window (35 s), so count the distinct viewers.
		if now, distinct := audienceNow(t, b, "event"); now["hls"] < 1 || distinct != i+1 {
			t.Errorf("%s: audience %v, distinct %d after its page played; want hls >= 1 (its beacons) and distinct %d", kind, now, distinct, i+1)
		}
		if kind == edges.Nginx {
			log, _ := os.ReadFile(filepath.Join(e.Dir, "access.log"))
			if strings.Contains(string(log), "_stream.m3u8?session=") || !strings.Contains(string(log), "_stream.m3u8?_HLS_msn=") {
				t.Errorf("nginx saw media playlist URLs with a token, or no blocking request:\n%.3000s", log)
			}
		}
		e.Stop()
	}
}
