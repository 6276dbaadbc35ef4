package hls

import (
	"net/http"
	"net/url"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so a benchmark measures the handler.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchRequest(b *testing.B, path string) {
	s, _, _ := testLive(b)
	u, err := url.Parse(path)
	if err != nil {
		b.Fatal(err)
	}
	req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	req = req.WithContext(b.Context())
	h := s.Handler()
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkMediaPlaylist: a blocking playlist request whose part is there (the usual case
// once it is woken), with the player's session token counted.
func BenchmarkMediaPlaylist(b *testing.B) {
	s, _, _ := testLive(b)
	tok := s.sessions.Mint("fete", 0, "192.0.2.1")
	benchRequest(b, "/hls/fete/video1_stream.m3u8?session="+tok+"&_HLS_msn=2&_HLS_part=0")
}

// BenchmarkPart: a part (immutable, from prepared bytes).
func BenchmarkPart(b *testing.B) { benchRequest(b, "/hls/fete/p_video1_part07.mp4") }

// BenchmarkSegment: a segment, served as its parts one after the other.
func BenchmarkSegment(b *testing.B) { benchRequest(b, "/hls/fete/p_video1_seg01.mp4") }

// BenchmarkMultivariant: a new player: a token is made (beyond the address's burst: its
// shared token).
func BenchmarkMultivariant(b *testing.B) { benchRequest(b, "/hls/fete/index.m3u8") }
