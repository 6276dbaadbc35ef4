package clips

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A path with every character the filter graph or the option parser treats specially
// survives both: ffmpeg-filters(1), "Notes on filtergraph escaping".
func TestEscapeValue(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/share/fonts/DejaVuSans-Bold.ttf": `\'/usr/share/fonts/DejaVuSans-Bold.ttf\'`,
		"/data/it's:a[b],c;d\\e":               `\'/data/it\'\\\'\'s:a\[b\]\,c\;d\\e\'`,
	} {
		if got := escapeValue(in); got != want {
			t.Errorf("escapeValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  string
	}{
		{"Fête de la musique à Arras", 12, "Fête de la\nmusique à\nArras"},
		{"un\ndeux trois", 20, "un\ndeux trois"},
		{"anticonstitutionnellement", 10, "anticonsti\ntutionnell\nement"},
	} {
		if got := wrap(c.in, c.width); got != c.want {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}

func TestOutputSize(t *testing.T) {
	for _, c := range []struct {
		shape  string
		w, h   int
		ow, oh int
	}{
		{"9:16", 1920, 1080, 606, 1080}, // a 1080p source's crop is smaller than 1080x1920
		{"9:16", 2160, 3840, 1080, 1920},
		{"1:1", 1280, 720, 720, 720},
		{"16:9", 3840, 2160, 1920, 1080},
		{"16:9", 640, 360, 640, 360},
	} {
		if ow, oh := outputSize(mustShape(t, c.shape), c.w, c.h); ow != c.ow || oh != c.oh {
			t.Errorf("%s of %dx%d: %dx%d, want %dx%d", c.shape, c.w, c.h, ow, oh, c.ow, c.oh)
		}
	}
}

// Only the segments that cover the clip are read; a discontinuity starts a new part.
func TestCover(t *testing.T) {
	dir := t.TempDir()
	pl := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init-0.mp4\"\n"
	for i := range 3600 {
		if i == 1800 {
			pl += "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n"
		}
		pl += "#EXTINF:2.000,\nseg-" + strconv.Itoa(i) + ".m4s\n"
	}
	pl += "#EXT-X-ENDLIST\n"
	if err := os.WriteFile(filepath.Join(dir, "index.m3u8"), []byte(pl), 0o600); err != nil {
		t.Fatal(err)
	}
	tl, err := readTimeline(dir)
	if err != nil || tl.Duration != 7200 {
		t.Fatalf("%v, %.0f s", err, tl.Duration)
	}
	parts := tl.cover(3570.5, 3630.5) // across the discontinuity at 3600 s
	if len(parts) != 2 || len(parts[0].Segments) != 15 || len(parts[1].Segments) != 16 ||
		filepath.Base(parts[0].Init) != "init-0.mp4" || filepath.Base(parts[1].Init) != "init-1.mp4" {
		t.Fatalf("parts: %+v", parts)
	}
	if parts[0].From != 0.5 || parts[0].To != 30 || parts[1].From != 0 || parts[1].To != 30.5 {
		t.Errorf("windows: [%.2f, %.2f] and [%.2f, %.2f]", parts[0].From, parts[0].To, parts[1].From, parts[1].To)
	}
	if err := validate(3570.5, 3630.5, tl.Duration); err != nil {
		t.Error(err)
	}
}

func mustShape(t *testing.T, name string) Shape {
	t.Helper()
	s, ok := ShapeOf(name)
	if !ok {
		t.Fatalf("no shape %q", name)
	}
	return s
}
