package presets

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// shipped loads the presets Beffroi ships.
func shipped(t *testing.T) *Set {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatalf("the shipped presets.yaml does not load: %v", err)
	}
	return s
}

func TestPresetsParse(t *testing.T) {
	l := shipped(t).List()
	want := []string{"youtube", "facebook", "x", "twitch", "instagram", "linkedin", "kick", "custom-rtmp", "custom-srt", "custom-whip"}
	if len(l) != len(want) {
		t.Fatalf("%d presets, want %d", len(l), len(want))
	}
	for i, id := range want {
		if l[i].ID != id {
			t.Errorf("preset %d is %q, want %q", i, l[i].ID, id)
		}
		if l[i].KeyHelp == "" {
			t.Errorf("preset %q: no key_help", id)
		}
	}
	if _, err := Parse([]byte("- id: a\n  name: A\n  urls: [rtmp://h/a]\n- id: a\n  name: B\n  urls: [rtmp://h/b]\n")); err == nil {
		t.Fatal("a duplicate id was accepted")
	}
	if _, err := Parse([]byte("- id: a\n")); err == nil {
		t.Fatal("a preset without name and urls was accepted")
	}
}

func TestDestinationURL(t *testing.T) {
	for _, tt := range []struct {
		id, ingest, key, want, err string
	}{
		{"youtube", "", "abcd-efgh", "rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh", ""},
		{"youtube", "rtmp://a.rtmp.youtube.com/live2/", " k1 ", "rtmp://a.rtmp.youtube.com/live2/k1", ""},
		{"facebook", "", "FB-123?s_bl=1", "rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1", ""},
		{"instagram", "", "k", "", "paste it"},
		{"instagram", "rtmps://edgetee-upload-fra3-1.xx.fbcdn.net:443/rtmp", "k", "rtmps://edgetee-upload-fra3-1.xx.fbcdn.net:443/rtmp/k", ""},
		{"custom-srt", "srt://127.0.0.1:9000?passphrase=abcdefghij", "publish:x", "srt://127.0.0.1:9000?passphrase=abcdefghij&streamid=publish%3Ax", ""},
		{"twitch", "", "", "", "required"},
		{"custom-rtmp", "not a url", "k", "", "host"},
	} {
		got, err := shipped(t).Find(tt.id).DestinationURL(tt.ingest, tt.key)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %q: error %v, want one with %q", tt.id, tt.ingest, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q: %q, %v; want %q", tt.id, tt.ingest, got, err, tt.want)
		}
	}
	if shipped(t).Find("nope") != nil {
		t.Fatal("FindPreset of an unknown id")
	}
}

func TestMatchPreset(t *testing.T) {
	set := shipped(t)
	for raw, want := range map[string]string{
		"rtmp://a.rtmp.youtube.com/live2/key":                       "youtube",
		"rtmps://live-api-s.facebook.com:443/rtmp/key":              "facebook",
		"rtmps://edgetee-upload-cdg4-2.xx.fbcdn.net:443/rtmp/key":   "instagram",
		"rtmps://va.pscp.tv:443/x/key":                              "x",
		"rtmp://127.0.0.1:1935/live/key":                            "",
		"srt://ingest.example.org:9000?streamid=publish:a":          "",
		"rtmps://fa723fc1b171.global-contribute.live-video.net/app": "kick",
	} {
		u, _ := url.Parse(raw)
		got := ""
		if p := set.Match(u); p != nil {
			got = p.ID
		}
		if got != want {
			t.Errorf("%s: matched %q, want %q", raw, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	fb := shipped(t).Find("facebook").Requires
	ok := []relay.TrackInfo{
		{Kind: "video", Codec: relay.H264, Width: 1280, Height: 720, FPS: 30, Bitrate: 4e6, KeyframeInterval: 2 * time.Second},
		{Kind: "audio", Codec: relay.Opus, SampleRate: 48000},
	}
	if w := fb.Check(ok); len(w) != 0 {
		t.Fatalf("a fitting source warned: %q", w)
	}
	portrait := []relay.TrackInfo{{Kind: "video", Codec: relay.H264, Width: 1080, Height: 1920, FPS: 30, KeyframeInterval: 2 * time.Second}}
	if w := fb.Check(portrait); len(w) != 0 {
		t.Fatalf("portrait 1080x1920 warned against a 1920x1080 limit: %q", w)
	}
	bad := []relay.TrackInfo{
		{Kind: "video", Codec: relay.H265, Width: 3840, Height: 2160, FPS: 60, Bitrate: 20e6, KeyframeInterval: 4 * time.Second},
		{Kind: "audio", Codec: relay.AAC, SampleRate: 44100},
	}
	w := strings.Join(fb.Check(bad), "\n")
	for _, s := range []string{"video is H265", "keyframes every 4s", "at least every 2s", "3840x2160", "20.0 Mbit/s", "44100 Hz"} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings miss %q:\n%s", s, w)
		}
	}
	// Not known yet: no warning.
	if w := fb.Check([]relay.TrackInfo{{Kind: "video", Codec: relay.H264}}); len(w) != 0 {
		t.Fatalf("unknown figures warned: %q", w)
	}
}
