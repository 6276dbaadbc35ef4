package audience

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memJournal keeps events as the store does (the same rules on SeriesFrom and Distinct), and
// every write it got.
type memJournal struct {
	mu     sync.Mutex
	events map[string]EventSnapshot
	saves  []EventSnapshot
	fail   error
}

func newMemJournal() *memJournal { return &memJournal{events: map[string]EventSnapshot{}} }

func (j *memJournal) SaveAudience(_ context.Context, s EventSnapshot) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.saves = append(j.saves, s)
	old, ok := j.events[s.Stream]
	if !ok || old.ID != s.ID {
		if s.SeriesFrom != 0 {
			return fmt.Errorf("a new event's series from %d", s.SeriesFrom)
		}
		if s.Distinct == nil {
			s.Distinct = []byte{}
		}
	} else {
		if s.SeriesFrom > len(old.Series) {
			return fmt.Errorf("series from %d, %d kept", s.SeriesFrom, len(old.Series))
		}
		s.Series = append(slices.Clone(old.Series[:s.SeriesFrom]), s.Series...)
		if s.Distinct == nil {
			s.Distinct = old.Distinct
		}
	}
	s.SeriesFrom = 0
	j.events[s.Stream] = s
	return nil
}

func (j *memJournal) LoadAudience(_ context.Context, stream string) (EventSnapshot, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s, ok := j.events[stream]
	return s, ok, nil
}

func (j *memJournal) get(stream string) EventSnapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.events[stream]
}

func (j *memJournal) writes() []EventSnapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.saves)
}

const testGrace = 30 * time.Second

// newJournaled returns a counter writing to j, as one process of Beffroi: its own secret.
func newJournaled(clk *fakeClock, j Journal, secret string) *Counter {
	return New(Options{Window: 10 * time.Second, BeaconWindow: 35 * time.Second, Clock: clk.Now,
		Secret: []byte(secret), Journal: j, Grace: testGrace})
}

// step moves the clock one second, ticks with fete live (as event ev) or not, and saves
// what is due, as Run does.
func step(c *Counter, clk *fakeClock, live bool, ev uint64) {
	clk.Add(time.Second)
	c.tick(map[string]bool{"fete": live}, map[string]uint64{"fete": ev})
	c.save(context.Background(), false)
}

// keepWatching renews the HLS sessions of toks, as players reloading their playlists.
func keepWatching(t *testing.T, c *Counter, event uint64, toks []string) {
	t.Helper()
	for _, tok := range toks {
		if !c.Playlist("fete", event, tok) {
			t.Fatalf("token %q refused", tok)
		}
	}
}

func sameSeries(a, b []Sample) bool {
	return slices.EqualFunc(a, b, func(x, y Sample) bool {
		return x.At.Equal(y.At) && x.Total == y.Total && x.HLS == y.HLS && x.WHEP == y.WHEP && x.Other == y.Other
	})
}

// TestJournalRestartContinuesEvent: a process counts an event (3 HLS players and a WHEP
// viewer), writes it, and dies; the next one restores it before its stream is back: the
// report holds the series, peak, distinct viewers and watch time as of the last write. The
// stream live again within the grace continues the same event: the series goes on, the old
// tokens are refused, a new viewer adds one to the distinct count.
func TestJournalRestartContinuesEvent(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	j := newMemJournal()
	first := newJournaled(clk, j, "first process")
	const ev1, ev2 = 7, 99
	step(first, clk, true, ev1)
	toks := []string{first.NewToken("fete", ev1), first.NewToken("fete", ev1), first.NewToken("fete", ev1)}
	for _, tok := range toks {
		play(t, first, ev1, tok)
	}
	first.Join("fete", WHEP) // never left: the process dies with its peer connection
	for range 20 {
		keepWatching(t, first, ev1, toks)
		step(first, clk, true, ev1)
	}
	first.save(context.Background(), true) // the last write before the kill
	before := first.Snapshot("fete")
	for range 3 { // seconds the journal never sees
		step(first, clk, true, ev1)
	}
	if before.Distinct != 4 || before.Peak.Total != 4 || len(before.Series) < 4 || before.Event == "" {
		t.Fatalf("before the kill: %+v", before)
	}

	clk.Add(5 * time.Second) // the restart
	second := newJournaled(clk, j, "second process")
	second.Restore(context.Background(), []string{"fete"})
	got := second.Snapshot("fete")
	if got.Event != before.Event || got.Distinct != before.Distinct || got.Peak.Total != before.Peak.Total ||
		!got.Peak.At.Equal(before.Peak.At) || !maps.Equal(got.Peak.ByProtocol, before.Peak.ByProtocol) ||
		!sameSeries(got.Series, before.Series) || got.WatchTime != before.WatchTime || !got.Start.Equal(before.Start) {
		t.Fatalf("restored:\n%+v\nwant as of the last write:\n%+v", got, before)
	}
	if got.Live || got.End.IsZero() || got.Now["total"] != 0 {
		t.Errorf("restored before the stream is back: live %v end %s now %v; want not live, ended at the last write",
			got.Live, got.End, got.Now)
	}

	// The stream comes back (a new live session of the relay) within the grace.
	step(second, clk, true, ev2)
	if second.ValidToken("fete", ev1, toks[0]) || second.ValidToken("fete", ev2, toks[0]) {
		t.Error("a token of the killed process is valid after the restart")
	}
	tok := second.NewToken("fete", ev2)
	play(t, second, ev2, tok)
	for range 12 {
		keepWatching(t, second, ev2, []string{tok})
		step(second, clk, true, ev2)
	}
	after := second.Snapshot("fete")
	if !after.Live || !after.End.IsZero() || after.Event != before.Event || !after.Start.Equal(before.Start) {
		t.Fatalf("resumed: live %v end %s event %q start %s; want the same event going on", after.Live, after.End, after.Event, after.Start)
	}
	if after.Distinct != before.Distinct+1 || after.Peak.Total != before.Peak.Total {
		t.Errorf("resumed: distinct %d peak %d, want %d and %d", after.Distinct, after.Peak.Total, before.Distinct+1, before.Peak.Total)
	}
	if len(after.Series) <= len(before.Series) || !sameSeries(after.Series[:len(before.Series)], before.Series) {
		t.Fatalf("series after the restart (%d samples) does not continue the one before (%d)", len(after.Series), len(before.Series))
	}
	if last := after.Series[len(after.Series)-1]; last.HLS != 1 {
		t.Errorf("last sample %+v, want the new viewer", last)
	}
	if after.WatchTime <= before.WatchTime {
		t.Errorf("watch time %s after the restart, %s before", after.WatchTime, before.WatchTime)
	}
	// The journal holds the whole continued series.
	second.save(context.Background(), true)
	if js := j.get("fete"); !sameSeries(js.Series, after.Series) || js.ID != before.Event || !js.End.IsZero() {
		t.Errorf("journal after the restart: id %q end %s %d samples; want %q live with %d", js.ID, js.End, len(js.Series), before.Event, len(after.Series))
	}
}

// TestJournalEventEndsWithoutItsStream: restored, an event whose stream does not come back
// within the grace ends as of its last write, in the journal too; the stream's next go-live
// is a new event.
func TestJournalEventEndsWithoutItsStream(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	j := newMemJournal()
	first := newJournaled(clk, j, "first")
	first.Join("fete", WHEP)
	for range 12 {
		step(first, clk, true, 7)
	}
	first.save(context.Background(), true)
	lastWrite := j.get("fete").LiveAt
	if lastWrite.IsZero() || !j.get("fete").End.IsZero() {
		t.Fatalf("journal of a live event: %+v", j.get("fete"))
	}

	second := newJournaled(clk, j, "second")
	second.Restore(context.Background(), []string{"fete"})
	for clk.Now().Before(lastWrite.Add(DefaultSaveEvery + testGrace)) {
		step(second, clk, false, 0)
		if !j.get("fete").End.IsZero() {
			t.Fatalf("ended at %s, within the grace of the last write (%s)", clk.Now(), lastWrite)
		}
	}
	step(second, clk, false, 0)
	js := j.get("fete")
	if !js.End.Equal(lastWrite) {
		t.Fatalf("journal after the grace: end %s, want the last write %s", js.End, lastWrite)
	}
	s := second.Snapshot("fete")
	if s.Live || !s.End.Equal(lastWrite) || s.Distinct != 1 || s.Peak.Total != 1 {
		t.Errorf("report after the grace: %+v", s)
	}
	step(second, clk, true, 8)
	if s2 := second.Snapshot("fete"); s2.Event == s.Event || s2.Distinct != 0 || !s2.Live {
		t.Errorf("the next go-live: %+v, want a new event", s2)
	}
	// A third process finds the new event, not the old one.
	third := newJournaled(clk, j, "third")
	third.Restore(context.Background(), []string{"fete"})
	if got := third.Snapshot("fete").Event; got == s.Event || got == "" {
		t.Errorf("third process restored event %q", got)
	}
}

// TestJournalWritesOnlyWhatChanged: a live event is written when it begins, then every
// SaveEvery with the new samples only and the distinct set only when it moved; its end at
// once; an idle stream never; a thinned series whole.
func TestJournalWritesOnlyWhatChanged(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	j := newMemJournal()
	c := newJournaled(clk, j, "s")
	step(c, clk, true, 7)
	if w := j.writes(); len(w) != 1 || w[0].SeriesFrom != 0 || w[0].Distinct == nil {
		t.Fatalf("writes when the event began: %+v", w)
	}
	tok := c.NewToken("fete", 7)
	play(t, c, 7, tok)
	for range 20 {
		keepWatching(t, c, 7, []string{tok})
		step(c, clk, true, 7)
	}
	w := j.writes()
	if len(w) < 4 || len(w) > 6 {
		t.Fatalf("%d writes in 21 s of a live event, want one at the start and one every 5 s", len(w))
	}
	withSet := 0
	for i := 1; i < len(w); i++ {
		prev := w[i-1].SeriesFrom + len(w[i-1].Series)
		if w[i].SeriesFrom != prev || len(w[i].Series) > 2 {
			t.Errorf("write %d: samples from %d (%d of them), want from %d, only the new ones", i, w[i].SeriesFrom, len(w[i].Series), prev)
		}
		if w[i].Distinct != nil {
			withSet++
		}
	}
	if withSet != 1 { // the write after the one viewer came
		t.Errorf("%d writes carried the distinct set, want 1", withSet)
	}
	n := len(w)
	step(c, clk, false, 0) // the stream ends: written at once
	w = j.writes()
	if len(w) != n+1 || w[n].End.IsZero() {
		t.Fatalf("the end of the event: %d writes (last %+v), want one more with its end", len(w), w[len(w)-1])
	}
	for range 30 {
		step(c, clk, false, 0)
	}
	if len(j.writes()) != n+1 {
		t.Errorf("an idle stream was written %d times", len(j.writes())-n-1)
	}

	// Thinning rewrites the series.
	c.o.MaxSamples = 6
	step(c, clk, true, 8)
	for range 40 {
		step(c, clk, true, 8)
	}
	c.save(context.Background(), true)
	if !sameSeries(j.get("fete").Series, c.Snapshot("fete").Series) {
		t.Errorf("journal series %+v\nwant %+v", j.get("fete").Series, c.Snapshot("fete").Series)
	}
}

// TestJournalFailure: a journal that fails is logged once and retried; once it works again
// everything is written (it may hold part of a failed write).
func TestJournalFailure(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	j := newMemJournal()
	var logs bytes.Buffer
	c := New(Options{Clock: clk.Now, Journal: j, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	step(c, clk, true, 7)
	j.mu.Lock()
	j.fail = errors.New("disk full")
	j.mu.Unlock()
	for range 20 {
		step(c, clk, true, 7)
	}
	if n := strings.Count(logs.String(), "cannot save"); n != 1 {
		t.Errorf("%d log lines for a failing journal, want 1:\n%s", n, logs.String())
	}
	j.mu.Lock()
	j.fail = nil
	j.mu.Unlock()
	for range 5 { // the next attempt
		step(c, clk, true, 7)
	}
	w := j.writes()
	if last := w[len(w)-1]; len(w) != 2 || last.SeriesFrom != 0 || last.Distinct == nil {
		t.Fatalf("the write after the failure: %+v, want everything", last)
	}
	if !sameSeries(j.get("fete").Series, c.Snapshot("fete").Series) || !strings.Contains(logs.String(), "saved again") {
		t.Errorf("journal after the failure: %d samples, counter %d; log:\n%s", len(j.get("fete").Series), len(c.Snapshot("fete").Series), logs.String())
	}
}

// TestJournalBadDistinctSet: a stored set that is not one is logged and counts from zero; the
// rest of the event is restored.
func TestJournalBadDistinctSet(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	j := newMemJournal()
	j.events["fete"] = EventSnapshot{Stream: "fete", ID: "e1", Start: clk.Now().Add(-time.Hour), End: clk.Now(),
		Peak: Peak{Total: 12}, DistinctExact: 2, Distinct: []byte("E1234567")[:5]}
	var logs bytes.Buffer
	c := New(Options{Clock: clk.Now, Journal: j, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c.Restore(context.Background(), []string{"fete"})
	s := c.Snapshot("fete")
	if s.Event != "e1" || s.Peak.Total != 12 || s.Distinct != 2 {
		t.Errorf("restored %+v, want event e1, peak 12, distinct 2 (the exact sessions)", s)
	}
	if n := strings.Count(logs.String(), "distinct viewers cannot be read"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, logs.String())
	}
}

// TestDistinctMarshal: the stored set counts what it counted, exact and HyperLogLog; what is
// not one is an error.
func TestDistinctMarshal(t *testing.T) {
	for _, n := range []int{0, 1, 500, distinctExactCap, 20000} {
		d := newDistinct()
		for i := range n {
			d.add(uint64(i) * 0x9e3779b97f4a7c15)
		}
		b := d.marshal()
		got, err := unmarshalDistinct(b)
		if err != nil {
			t.Fatalf("%d hashes: %v", n, err)
		}
		if got.count() != d.count() {
			t.Errorf("%d hashes: restored count %d, want %d", n, got.count(), d.count())
		}
		if n > distinctExactCap && (got.exact != nil || len(b) != 1+hllM) {
			t.Errorf("%d hashes stored as %d bytes, want the registers", n, len(b))
		}
		// Adding to the restored set goes on as before.
		d.add(1)
		got.add(1)
		if got.count() != d.count() {
			t.Errorf("%d hashes then one more: %d, want %d", n, got.count(), d.count())
		}
	}
	big := make([]byte, 1+8*(distinctExactCap+1))
	big[0] = distinctKindExact
	regs := make([]byte, 1+hllM)
	regs[0], regs[1] = distinctKindHLL, 200
	for _, b := range [][]byte{{'X'}, {distinctKindExact, 1, 2}, {distinctKindHLL, 1}, big, regs} {
		if _, err := unmarshalDistinct(b); !errors.Is(err, errDistinct) {
			t.Errorf("%d bytes starting %q: %v, want errDistinct", len(b), b[0], err)
		}
	}
}
