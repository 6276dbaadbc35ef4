package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/presets"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/web"
)

const (
	liveKey     = "pk-conseil-0b7e4c1d"
	idleKey     = "pk-annonces-9a2f6e3b"
	youtubeURL  = "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"
	facebookURL = "rtmps://live-api-s.facebook.com:443/rtmp/FB-123456?s_bl=1&a=xyzw"
)

// secrets must never appear in a response.
var secrets = []string{liveKey, idleKey, "abcd-efgh-ijkl", "FB-123456", "a=xyzw"}

// fakeDestinations reports fixed statuses.
type fakeDestinations map[string][]outputs.Status

func (f fakeDestinations) List(stream string) []outputs.Status { return f[stream] }

// shippedPresets returns the presets Beffroi ships.
func shippedPresets(t *testing.T) *presets.Set {
	t.Helper()
	p, err := presets.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newRegistry returns a registry with a live stream (H.264 and AAC, 30 frames of each) and
// an idle one.
func newRegistry(t *testing.T) *relay.Registry {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{})
	t.Cleanup(reg.StopAll)
	live, err := reg.Add("conseil", liveKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add("annonces", idleKey); err != nil {
		t.Fatal(err)
	}
	p := live.Publish(relay.SourceInfo{Protocol: "rtmp", RemoteAddr: "192.0.2.7:50312"})
	v, err := relay.NewH264Track(testutil.SPS720(), testutil.PPS())
	if err != nil {
		t.Fatal(err)
	}
	a, err := relay.NewAACTrack(testutil.ASC())
	if err != nil {
		t.Fatal(err)
	}
	if v, err = p.SetTrack(v); err != nil {
		t.Fatal(err)
	}
	if a, err = p.SetTrack(a); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		d := time.Duration(i) * time.Second / 30
		if err := p.WriteFrame(&relay.Frame{Track: v, DTS: d, PTS: d, Key: i == 0, Units: [][]byte{make([]byte, 1000)}}); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteFrame(&relay.Frame{Track: a, DTS: d, PTS: d, Key: true, Units: [][]byte{make([]byte, 200)}}); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

type response struct {
	code        int
	contentType string
	body        string
}

func get(t *testing.T, srv *httptest.Server, path string) response {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header.Get("Content-Type"), string(b)}
}

func decode(t *testing.T, r response, v any) {
	t.Helper()
	if !strings.HasPrefix(r.contentType, "application/json") {
		t.Errorf("Content-Type %q, want JSON", r.contentType)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, r.body)
	}
}

type trackJSON struct {
	Kind             string  `json:"kind"`
	Codec            string  `json:"codec"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	SampleRate       int     `json:"sample_rate"`
	Channels         int     `json:"channels"`
	Frames           uint64  `json:"frames"`
	Bytes            uint64  `json:"bytes"`
	KeyframeInterval float64 `json:"keyframe_interval"`
}

type streamJSON struct {
	Name   string `json:"name"`
	Live   bool   `json:"live"`
	State  string `json:"state"`
	Source *struct {
		Protocol   string `json:"protocol"`
		RemoteAddr string `json:"remote_addr"`
	} `json:"source"`
	Tracks       []trackJSON      `json:"tracks"`
	Readers      int              `json:"readers"`
	Destinations []outputs.Status `json:"destinations"`
}

func TestAPI(t *testing.T) {
	retryAt := time.Now().Add(4 * time.Second)
	dests := fakeDestinations{"conseil": {
		{Name: "youtube", Protocol: "rtmp", Host: "a.rtmp.youtube.com", Enabled: true, State: outputs.StateLive,
			Bytes: 123456, Frames: 789, Bitrate: 4.5e6},
		{Name: "facebook", Protocol: "rtmps", Host: "live-api-s.facebook.com:443", Enabled: true, State: outputs.StateRetrying,
			LastError: "connect rtmps://live-api-s.facebook.com:443: refused", RetryAt: &retryAt, Reconnects: 3},
	}}
	srv := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t), Destinations: dests, Presets: shippedPresets(t), Version: "v-test"}).Handler())
	defer srv.Close()

	t.Run("list", func(t *testing.T) {
		r := get(t, srv, "/api/v1/streams")
		if r.code != http.StatusOK {
			t.Fatalf("status %d: %s", r.code, r.body)
		}
		var list struct{ Streams []streamJSON }
		decode(t, r, &list)
		if len(list.Streams) != 2 || list.Streams[0].Name != "annonces" || list.Streams[1].Name != "conseil" {
			t.Fatalf("streams = %+v, want annonces and conseil", list.Streams)
		}
		idle := list.Streams[0]
		if idle.Live || idle.State != "idle" || idle.Source != nil || len(idle.Tracks) != 0 || idle.Tracks == nil ||
			idle.Destinations == nil || len(idle.Destinations) != 0 {
			t.Errorf("idle stream = %+v (tracks and destinations must be empty arrays)", idle)
		}
	})
	t.Run("live stream", func(t *testing.T) {
		r := get(t, srv, "/api/v1/streams/conseil")
		if r.code != http.StatusOK {
			t.Fatalf("status %d: %s", r.code, r.body)
		}
		var s streamJSON
		decode(t, r, &s)
		if !s.Live || s.State != "live" || s.Source == nil || s.Source.Protocol != "rtmp" || s.Source.RemoteAddr != "192.0.2.7:50312" {
			t.Errorf("stream = %+v", s)
		}
		if len(s.Tracks) != 2 {
			t.Fatalf("tracks = %+v", s.Tracks)
		}
		if v := s.Tracks[0]; v.Kind != "video" || v.Codec != "H264" || v.Width != 1280 || v.Height != 720 || v.Frames != 30 || v.Bytes != 30000 {
			t.Errorf("video track = %+v", v)
		}
		if a := s.Tracks[1]; a.Kind != "audio" || a.Codec != "AAC" || a.SampleRate != 48000 || a.Channels != 2 || a.Frames != 30 {
			t.Errorf("audio track = %+v", a)
		}
		if len(s.Destinations) != 2 || s.Destinations[0].State != outputs.StateLive ||
			s.Destinations[1].RetryAt == nil || !s.Destinations[1].RetryAt.Equal(retryAt) || s.Destinations[1].Reconnects != 3 {
			t.Errorf("destinations = %+v", s.Destinations)
		}
		var raw any
		decode(t, r, &raw)
		for _, k := range jsonKeys(raw) {
			if lk := strings.ToLower(k); strings.Contains(lk, "url") || lk == "key" || strings.HasSuffix(lk, "_key") {
				t.Errorf("stream JSON has a %q field", k)
			}
		}
	})
	t.Run("unknown stream", func(t *testing.T) {
		r := get(t, srv, "/api/v1/streams/nope")
		var e struct{ Error string }
		decode(t, r, &e)
		if r.code != http.StatusNotFound || !strings.Contains(e.Error, "not found") {
			t.Errorf("status %d, error %q", r.code, e.Error)
		}
	})
	t.Run("unknown route", func(t *testing.T) {
		r := get(t, srv, "/api/v1/nothing")
		var e struct{ Error string }
		decode(t, r, &e)
		if r.code != http.StatusNotFound || e.Error == "" {
			t.Errorf("status %d, error %q", r.code, e.Error)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		r := get(t, srv, "/healthz")
		var h struct{ Status, Version string }
		decode(t, r, &h)
		if r.code != http.StatusOK || h.Status != "ok" || h.Version != "v-test" {
			t.Errorf("status %d, %v", r.code, h)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		r := get(t, srv, "/metrics")
		if r.code != http.StatusOK {
			t.Fatalf("status %d", r.code)
		}
		for _, want := range []string{
			`beffroi_stream_live{stream="conseil"} 1`,
			`beffroi_stream_live{stream="annonces"} 0`,
			`beffroi_stream_publisher_connected{stream="conseil"} 1`,
			`beffroi_stream_readers{stream="conseil"} 0`,
			`beffroi_stream_ingest_frames_total{codec="H264",kind="video",stream="conseil"} 30`,
			`beffroi_stream_ingest_bytes_total{codec="AAC",kind="audio",stream="conseil"} 6000`,
			`beffroi_destination_state{destination="youtube",state="live",stream="conseil"} 1`,
			`beffroi_destination_state{destination="youtube",state="retrying",stream="conseil"} 0`,
			`beffroi_destination_state{destination="facebook",state="retrying",stream="conseil"} 1`,
			`beffroi_destination_bytes_total{destination="youtube",stream="conseil"} 123456`,
			`beffroi_destination_frames_total{destination="youtube",stream="conseil"} 789`,
			`beffroi_destination_reconnects_total{destination="facebook",stream="conseil"} 3`,
			`beffroi_destination_bitrate_bits{destination="youtube",stream="conseil"} 4.5e+06`,
			`go_goroutines `,
		} {
			if !strings.Contains(r.body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if regexp.MustCompile(`beffroi_destination_\w+\{[^}]*stream="annonces"`).MatchString(r.body) {
			t.Error("destination metrics for a stream without destinations")
		}
	})
}

// jsonKeys returns every object key in a decoded JSON value.
func jsonKeys(v any) []string {
	var keys []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			keys = append(keys, k)
			keys = append(keys, jsonKeys(e)...)
		}
	case []any:
		for _, e := range v {
			keys = append(keys, jsonKeys(e)...)
		}
	}
	return keys
}

// failingPusher fails every push with an error that quotes the destination URL, key included,
// as a careless protocol library might.
type failingPusher struct{ u *url.URL }

func (p failingPusher) Push(context.Context, *relay.Reader, outputs.Progress) error {
	return fmt.Errorf("connect %s: %w", p.u, errors.New("connection refused"))
}

// TestNoSecrets runs real destinations that fail with their URL in the error, then checks
// that no response holds a publish key or a destination's stream key.
func TestNoSecrets(t *testing.T) {
	reg := newRegistry(t)
	newPusher := func(u *url.URL, _ outputs.Options) (outputs.Pusher, error) { return failingPusher{u}, nil }
	m := outputs.NewManager(reg, map[string]outputs.NewPusherFunc{"rtmp": newPusher, "rtmps": newPusher},
		outputs.Options{RetryMin: time.Hour, RetryMax: time.Hour})
	for name, u := range map[string]string{"youtube": youtubeURL, "facebook": facebookURL} {
		if err := m.Add("conseil", outputs.DestinationConfig{Name: name, URL: u, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	testutil.WaitFor(t, "both destinations to fail and retry", func() bool {
		retrying := 0
		for _, s := range m.List("conseil") {
			if s.State == outputs.StateRetrying && s.LastError != "" {
				retrying++
			}
		}
		return retrying == 2
	})

	srv := httptest.NewServer(web.New(web.Options{Registry: reg, Destinations: m, Presets: shippedPresets(t)}).Handler())
	defer srv.Close()
	for _, path := range []string{
		"/api/v1/streams", "/api/v1/streams/conseil", "/api/v1/streams/annonces", "/api/v1/streams/nope",
		"/api/v1/nothing", "/healthz", "/metrics",
	} {
		r := get(t, srv, path)
		for _, s := range secrets {
			if strings.Contains(r.body, s) {
				t.Errorf("GET %s reveals %q:\n%s", path, s, r.body)
			}
		}
		if path == "/api/v1/streams/conseil" && !strings.Contains(r.body, "connection refused") {
			t.Errorf("GET %s lacks the destinations' last error:\n%s", path, r.body)
		}
	}
}

func TestPresetsAndPlatforms(t *testing.T) {
	dests := fakeDestinations{"conseil": {
		{Name: "yt", Protocol: "rtmp", Host: "a.rtmp.youtube.com", Enabled: true, State: outputs.StateLive},
		{Name: "mine", Protocol: "rtmp", Host: "127.0.0.1:1935", Enabled: true, State: outputs.StateLive},
	}}
	srv := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t), Destinations: dests, Presets: shippedPresets(t)}).Handler())
	defer srv.Close()

	r := get(t, srv, "/api/v1/presets")
	var presets struct {
		Presets []struct {
			ID       string   `json:"id"`
			Name     string   `json:"name"`
			URLs     []string `json:"urls"`
			Requires struct {
				MaxKeyframeInterval float64 `json:"max_keyframe_interval"`
			} `json:"requires"`
		} `json:"presets"`
	}
	decode(t, r, &presets)
	if r.code != http.StatusOK || len(presets.Presets) < 8 || presets.Presets[1].ID != "facebook" ||
		presets.Presets[1].Requires.MaxKeyframeInterval != 2 || len(presets.Presets[1].URLs) == 0 {
		t.Fatalf("presets: status %d, %+v", r.code, presets)
	}

	r = get(t, srv, "/api/v1/streams/conseil")
	var s struct {
		Destinations []struct {
			Name     string   `json:"name"`
			Platform string   `json:"platform"`
			Warnings []string `json:"warnings"`
		} `json:"destinations"`
	}
	decode(t, r, &s)
	if len(s.Destinations) != 2 || s.Destinations[0].Platform != "youtube" || s.Destinations[1].Platform != "" {
		t.Fatalf("destinations: %+v", s.Destinations)
	}
	// The test source (1280x720 H.264, AAC 48 kHz, one keyframe so far) fits YouTube.
	if len(s.Destinations[0].Warnings) != 0 {
		t.Fatalf("warnings for a fitting source: %q", s.Destinations[0].Warnings)
	}
}
