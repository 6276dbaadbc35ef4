package store

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay/audience"
)

func samples(from time.Time, totals ...int) []audience.Sample {
	var l []audience.Sample
	for i, n := range totals {
		l = append(l, audience.Sample{At: from.Add(time.Duration(i) * 5 * time.Second), Total: n, HLS: n - 1, WHEP: 1})
	}
	return l
}

func totals(l []audience.Sample) []int {
	var t []int
	for _, p := range l {
		t = append(t, p.Total)
	}
	return t
}

// TestAudienceJournal: an event's figures come back as written (to the millisecond); a
// write of the same event appends to its series and keeps its distinct set unless it sends
// one; a thinned series replaces the stored one; another event replaces the stream's; a
// write that would leave a hole in the series is refused.
func TestAudienceJournal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	if _, ok, err := s.LoadAudience(ctx, "fete"); ok || err != nil {
		t.Fatalf("an empty database has an event: %v %v", ok, err)
	}
	start := time.Date(2026, 6, 21, 20, 0, 0, 123456789, time.UTC)
	e := audience.EventSnapshot{
		Stream: "fete", ID: "0a1b2c3d4e5f6789", Start: start, LiveAt: start.Add(10 * time.Second),
		Peak:          audience.Peak{Total: 3, At: start.Add(4 * time.Second), ByProtocol: map[string]int{"hls": 2, "whep": 1}},
		DistinctExact: 1, Distinct: []byte("E\x00\x00\x00\x00\x00\x00\x00\x07"), Watched: 42500 * time.Millisecond,
		Every: 5 * time.Second, Series: samples(start, 1, 3, 2),
	}
	if err := s.SaveAudience(ctx, e); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = open(t, path) // what a restart finds
	got, ok, err := s.LoadAudience(ctx, "fete")
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	if got.ID != e.ID || got.Start.UnixMilli() != start.UnixMilli() || !got.End.IsZero() || !got.LiveAt.Equal(e.LiveAt.Truncate(time.Millisecond)) ||
		got.Peak.Total != 3 || got.Peak.At.UnixMilli() != e.Peak.At.UnixMilli() || got.Peak.ByProtocol["hls"] != 2 || got.Peak.ByProtocol["whep"] != 1 ||
		got.DistinctExact != 1 || string(got.Distinct) != string(e.Distinct) || got.Watched != e.Watched || got.Every != e.Every || got.SeriesFrom != 0 {
		t.Fatalf("loaded %+v\nwant %+v", got, e)
	}
	if !slices.Equal(totals(got.Series), []int{1, 3, 2}) || got.Series[1].At.UnixMilli() != e.Series[1].At.UnixMilli() || got.Series[1].HLS != 2 {
		t.Fatalf("series %+v", got.Series)
	}

	// The next write: two new samples, the set unchanged (nil), the event's end.
	next := e
	next.SeriesFrom, next.Series, next.Distinct = 3, samples(start.Add(15*time.Second), 4, 0), nil
	next.End = start.Add(30 * time.Second)
	if err := s.SaveAudience(ctx, next); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.LoadAudience(ctx, "fete")
	if !slices.Equal(totals(got.Series), []int{1, 3, 2, 4, 0}) || string(got.Distinct) != string(e.Distinct) || got.End.UnixMilli() != next.End.UnixMilli() {
		t.Fatalf("after appending: series %v distinct %q end %s", totals(got.Series), got.Distinct, got.End)
	}
	// A thinned series is written whole.
	thin := next
	thin.SeriesFrom, thin.Series, thin.Every = 0, samples(start, 3, 4), 10*time.Second
	if err := s.SaveAudience(ctx, thin); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.LoadAudience(ctx, "fete")
	if !slices.Equal(totals(got.Series), []int{3, 4}) || got.Every != 10*time.Second {
		t.Fatalf("after thinning: series %v every %s", totals(got.Series), got.Every)
	}
	// A hole is refused and changes nothing.
	hole := thin
	hole.SeriesFrom, hole.Series = 5, samples(start, 9)
	if err := s.SaveAudience(ctx, hole); err == nil || !strings.Contains(err.Error(), "fete") {
		t.Errorf("a write leaving a hole in the series: %v, want an error naming the stream", err)
	}
	if got, _, _ = s.LoadAudience(ctx, "fete"); !slices.Equal(totals(got.Series), []int{3, 4}) {
		t.Errorf("after a refused write: series %v", totals(got.Series))
	}

	// Another event of the stream replaces it, samples and set; other streams keep theirs.
	other := e
	other.Stream = "conseil"
	if err := s.SaveAudience(ctx, other); err != nil {
		t.Fatal(err)
	}
	fresh := audience.EventSnapshot{Stream: "fete", ID: "ffff000011112222", Start: start.Add(time.Hour), Every: 5 * time.Second,
		Series: samples(start.Add(time.Hour), 0)}
	if err := s.SaveAudience(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.LoadAudience(ctx, "fete")
	if got.ID != fresh.ID || !slices.Equal(totals(got.Series), []int{0}) || len(got.Distinct) != 0 || got.Peak.Total != 0 ||
		!got.Peak.At.IsZero() || !got.LiveAt.IsZero() {
		t.Fatalf("a new event: %+v", got)
	}
	if got, ok, _ := s.LoadAudience(ctx, "conseil"); !ok || len(got.Series) != 3 || got.ID != e.ID {
		t.Errorf("the other stream's event: %+v", got)
	}
	for _, bad := range []audience.EventSnapshot{{ID: "x"}, {Stream: "fete"}, {Stream: "fete", ID: "new", SeriesFrom: 2}} {
		if err := s.SaveAudience(ctx, bad); err == nil {
			t.Errorf("SaveAudience(%+v) accepted", bad)
		}
	}
}

// BenchmarkSaveAudience measures one periodic write of a big event (8,192 distinct viewers,
// 12 h of series already kept): one new sample, with and without the distinct set (64 KiB)
// that a write carries when the set grew.
func BenchmarkSaveAudience(b *testing.B) {
	for _, withSet := range []bool{false, true} {
		b.Run(map[bool]string{false: "summary+sample", true: "summary+sample+set"}[withSet], func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, filepath.Join(b.TempDir(), FileName), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			start := time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)
			set := make([]byte, 1+8*8192)
			set[0] = 'E'
			for i := 1; i < len(set); i++ {
				set[i] = byte(i * 7)
			}
			e := audience.EventSnapshot{Stream: "fete", ID: "bench", Start: start, Every: 5 * time.Second,
				Distinct: set, Series: make([]audience.Sample, 8000)}
			for i := range e.Series {
				e.Series[i] = audience.Sample{At: start.Add(time.Duration(i) * 5 * time.Second), Total: i}
			}
			if err := s.SaveAudience(ctx, e); err != nil {
				b.Fatal(err)
			}
			n := len(e.Series)
			b.ResetTimer()
			for i := range b.N {
				w := e
				w.SeriesFrom, w.Series = n+i, []audience.Sample{{At: start.Add(time.Duration(n+i) * 5 * time.Second), Total: i}}
				w.Distinct = nil
				if withSet {
					w.Distinct = set
				}
				if err := s.SaveAudience(ctx, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
