package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/relay/audience"
)

// TestAudienceHistory: an event replaced by the stream's next one stays readable whole
// (figures, series with the platforms' counts, destinations, periods) and listed, newest
// first, across a restart.
func TestAudienceHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	start := time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)
	first := audience.EventSnapshot{
		Stream: "fete", ID: "1111111111111111", Start: start, End: start.Add(time.Hour), LiveAt: start.Add(time.Hour),
		Peak: audience.Peak{Total: 3, At: start.Add(4 * time.Second), ByProtocol: map[string]int{"hls": 2}}, Distinct: []byte{},
		Every: 5 * time.Second, Series: samples(start, 1, 3, 2),
		Outputs: []audience.Output{{Name: "youtube", Protocol: "rtmps", Host: "a.rtmp.youtube.com", State: "live", Uptime: 3590, Reconnects: 2}},
		Periods: []audience.Period{{Kind: audience.PeriodStandby, Start: start.Add(time.Minute), End: start.Add(2 * time.Minute)}},
	}
	first.Series[1].Platforms = map[string]int{"youtube": 250}
	if err := s.SaveAudience(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := audience.EventSnapshot{Stream: "fete", ID: "2222222222222222", Start: start.Add(24 * time.Hour),
		Peak: audience.Peak{Total: 1, ByProtocol: map[string]int{}}, Every: 5 * time.Second, Series: samples(start.Add(24*time.Hour), 1)}
	if err := s.SaveAudience(ctx, second); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = open(t, path)
	list, err := s.AudienceEvents(ctx, "fete", 10)
	if err != nil || len(list) != 2 || list[0].ID != second.ID || list[0].End != nil || list[1].ID != first.ID || list[1].Peak != 3 ||
		list[1].End == nil || !list[1].End.Equal(first.End) {
		t.Fatalf("events: %+v, %v", list, err)
	}
	got, ok, err := s.AudienceEvent(ctx, "fete", first.ID)
	if err != nil || !ok {
		t.Fatalf("past event: %v %v", ok, err)
	}
	if got.Peak.Total != 3 || !got.End.Equal(first.End) || len(got.Series) != 3 || got.Series[1].Platforms["youtube"] != 250 ||
		got.Series[0].Platforms != nil || len(got.Outputs) != 1 || got.Outputs[0] != first.Outputs[0] ||
		len(got.Periods) != 1 || !got.Periods[0].End.Equal(first.Periods[0].End) {
		t.Fatalf("past event %+v\nwant %+v", got, first)
	}
	if _, ok, err := s.AudienceEvent(ctx, "other", first.ID); ok || err != nil {
		t.Errorf("an event of another stream: %v %v", ok, err)
	}
	last, _, err := s.LoadAudience(ctx, "fete")
	if err != nil || last.ID != second.ID || len(last.Series) != 1 || len(last.Outputs) != 0 {
		t.Errorf("last event: %+v %v", last, err)
	}
}

// TestPlatformCredentials: stored, replaced, listed whole (for the poller), deleted.
func TestPlatformCredentials(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	yt := platforms.Credentials{Platform: platforms.YouTube, ID: "vid", APIKey: "k1"}
	if err := s.SavePlatform(ctx, "fete", "youtube", yt); err != nil {
		t.Fatal(err)
	}
	yt.APIKey = "k2"
	if err := s.SavePlatform(ctx, "fete", "youtube", yt); err != nil {
		t.Fatal(err)
	}
	tw := platforms.Credentials{Platform: platforms.Twitch, ID: "town", ClientID: "c", Token: "t"}
	if err := s.SavePlatform(ctx, "fete", "twitch", tw); err != nil {
		t.Fatal(err)
	}
	l, err := s.PlatformTargets(ctx)
	if err != nil || len(l) != 2 || l[0].Destination != "twitch" || l[0].Credentials != tw || l[1].Credentials != yt {
		t.Fatalf("targets %+v %v", l, err)
	}
	if ok, err := s.DeletePlatform(ctx, "fete", "twitch"); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, _ := s.DeletePlatform(ctx, "fete", "twitch"); ok {
		t.Error("deleted twice")
	}
	if l, _ := s.PlatformTargets(ctx); len(l) != 1 {
		t.Errorf("after delete: %+v", l)
	}
}
