package hls

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay/audience"
)

var sessionDataRE = regexp.MustCompile(`#EXT-X-SESSION-DATA:DATA-ID="` + regexp.QuoteMeta(SessionDataID) + `",VALUE="([^"]+)"\n`)

// TestMultivariantThroughEdge: an edge's request gets media playlist URLs without a token
// (the same for every viewer, so the edge keeps one copy) and the token in the session data;
// a direct request keeps the token in its URLs, and has the same session data.
func TestMultivariantThroughEdge(t *testing.T) {
	s, _, _ := testLive(t)
	direct := get(s, "/hls/fete/index.m3u8").Body.String()
	tok := tokenOf(t, direct)
	if m := sessionDataRE.FindStringSubmatch(direct); m == nil || m[1] != tok {
		t.Errorf("direct multivariant playlist: session data %v, want the URL's token %q:\n%s", m, tok, direct)
	}
	w := get(s, "/hls/fete/index.m3u8", EdgeHeader, "nginx")
	edge := w.Body.String()
	if strings.Contains(edge, "session=") {
		t.Errorf("multivariant playlist through an edge carries a token in a URL:\n%s", edge)
	}
	if !strings.Contains(edge, "\nvideo1_stream.m3u8\n") {
		t.Errorf("multivariant playlist through an edge without its plain media playlist URL:\n%s", edge)
	}
	m := sessionDataRE.FindStringSubmatch(edge)
	if m == nil {
		t.Fatalf("multivariant playlist through an edge without session data:\n%s", edge)
	}
	if m[1] == tok {
		t.Error("two players were handed the same token")
	}
	if cc := w.Header().Get("Cache-Control"); cc != cacheMultivariant {
		t.Errorf("multivariant Cache-Control %q, want %q", cc, cacheMultivariant)
	}
	// The edge viewer's token is one viewer by its beacons, and the same viewer if its
	// playlists ever reach the origin with it.
	c := s.sessions.(*audience.Counter)
	if !c.Beacon("fete", 0, m[1]) {
		t.Fatal("the edge viewer's token was refused by the beacon")
	}
	get(s, "/hls/fete/video1_stream.m3u8?session="+m[1])
	get(s, "/hls/fete/video1_stream.m3u8?session="+m[1])
	if n := c.Now("fete")[audience.HLS]; n != 1 {
		t.Errorf("hls viewers %d for one token seen by beacon and playlists, want 1", n)
	}
	// An edge asking with a player's token (a page reload) hands the same token back.
	again := get(s, "/hls/fete/index.m3u8?session="+m[1], EdgeHeader, "varnish").Body.String()
	if m2 := sessionDataRE.FindStringSubmatch(again); m2 == nil || m2[1] != m[1] {
		t.Errorf("a reload through an edge got session data %v, want its own token back", m2)
	}
	// No token at all for the operators' preview: no session data either.
	s.o.Operator = func(*http.Request) bool { return true }
	if b := get(s, "/hls/fete/index.m3u8", audience.PreviewHeader, "1").Body.String(); strings.Contains(b, "SESSION-DATA") {
		t.Errorf("the preview's multivariant playlist carries session data:\n%s", b)
	}
}

// TestBlockingCacheControl: a blocking response is cacheable for several target durations
// (every viewer asking for that part may share it), the plain playlist for a second, errors
// not at all.
func TestBlockingCacheControl(t *testing.T) {
	s, _, _ := testLive(t)
	for _, c := range []struct{ path, want string }{
		{"/hls/fete/video1_stream.m3u8", cachePlaylist},
		{"/hls/fete/video1_stream.m3u8?_HLS_msn=1&_HLS_part=1", "public, max-age=6"},
		{"/hls/fete/video1_stream.m3u8?_HLS_msn=1", "public, max-age=6"},
		{"/hls/fete/video1_stream.m3u8?_HLS_msn=9", cacheError},
		{"/hls/fete/p_video1_part07.mp4", cacheImmutable},
		{"/hls/fete/p_video1_init.mp4", cacheImmutable},
		{"/hls/fete/p_video1_part99.mp4", cacheGone},
		{"/hls/other/index.m3u8", cacheError},
	} {
		if got := get(s, c.path).Header().Get("Cache-Control"); got != c.want {
			t.Errorf("GET %s: Cache-Control %q, want %q", c.path, got, c.want)
		}
	}
	if got := blockingCacheControl(4 * time.Second)[0]; got != "public, max-age=24" {
		t.Errorf("blocking Cache-Control of a 4 s target %q, want max-age=24", got)
	}
}
