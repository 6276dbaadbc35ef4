package audience

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"
)

type fakePlatforms struct {
	mu sync.Mutex
	m  map[string]int
}

func (f *fakePlatforms) PlatformViewers(string) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.m)
}

type fakeOutputs struct {
	mu   sync.Mutex
	list []Output
}

func (f *fakeOutputs) OutputFigures(string) []Output {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Output(nil), f.list...)
}

func (f *fakeOutputs) set(o ...Output) {
	f.mu.Lock()
	f.list = o
	f.mu.Unlock()
}

// TestEventExtras: the platforms' counts go into the samples (not into our own total), the
// destinations' uptime and reconnects count from the event's start, the standby and paused
// and failover periods open and close, and all of it survives a restart through the journal.
func TestEventExtras(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	plat := &fakePlatforms{m: map[string]int{"youtube": 120, "twitch": 30}}
	outs := &fakeOutputs{}
	// Beffroi ran an earlier event: the destination's figures since start are not zero.
	outs.set(Output{Name: "youtube", Protocol: "rtmps", Host: "a.rtmp.youtube.com", State: "idle", Uptime: 500, Reconnects: 3})
	j := newMemJournal()
	c := New(Options{Clock: clk.Now, Secret: []byte("test"), Journal: j, Platforms: plat, Outputs: outs, SampleEvery: 5 * time.Second})
	round := func(live, paused, standby bool, backup ...bool) {
		c.tick(map[string]bool{"fete": live}, map[string]uint64{"fete": ev})
		if live {
			c.observe("fete", paused, standby, len(backup) > 0 && backup[0])
		}
		c.save(context.Background(), false)
	}
	round(true, false, false)
	leave := c.Join("fete", WHEP)
	defer leave()
	for range 10 {
		clk.Add(time.Second)
		outs.set(Output{Name: "youtube", Protocol: "rtmps", Host: "a.rtmp.youtube.com", State: "live", Uptime: 500 + float64(len(c.Snapshot("fete").Series)*5), Reconnects: 4})
		round(true, false, clk.Now().Second() >= 5)
	}
	s := c.Snapshot("fete")
	if !maps.Equal(s.Platforms, plat.m) || s.Now["total"] != 1 {
		t.Errorf("now: ours %v, platforms %v", s.Now, s.Platforms)
	}
	if len(s.Series) < 2 || s.Series[1].Platforms["youtube"] != 120 || s.Series[1].Total != 1 {
		t.Fatalf("series: %+v", s.Series)
	}
	if len(s.Outputs) != 1 || s.Outputs[0].Reconnects != 1 || s.Outputs[0].Uptime <= 0 || s.Outputs[0].Uptime > 20 || s.Outputs[0].State != "live" {
		t.Errorf("outputs during the event: %+v; want 1 reconnect and the event's uptime only", s.Outputs)
	}
	if len(s.Periods) != 1 || s.Periods[0].Kind != PeriodStandby || !s.Periods[0].End.IsZero() {
		t.Errorf("periods: %+v; want one open standby period", s.Periods)
	}
	clk.Add(time.Second)
	round(true, true, true) // the operator pauses: standby ends, paused begins
	clk.Add(time.Second)
	round(true, false, false, true) // back on air from a backup source: a failover period
	clk.Add(time.Second)
	round(false, false, false) // the event ends: open periods end with it
	s = c.Snapshot("fete")
	kinds := map[string]bool{}
	for _, p := range s.Periods {
		kinds[p.Kind] = true
		if p.End.IsZero() || p.End.Before(p.Start) {
			t.Errorf("period after the end: %+v", p)
		}
	}
	if len(s.Periods) != 3 || !kinds[PeriodStandby] || !kinds[PeriodPaused] || !kinds[PeriodFailover] {
		t.Errorf("periods: %+v", s.Periods)
	}
	// A restart reads it all back.
	saved := j.get("fete")
	if len(saved.Outputs) != 1 || len(saved.Periods) != 3 || saved.Series[1].Platforms["twitch"] != 30 {
		t.Fatalf("journal: outputs %+v periods %+v", saved.Outputs, saved.Periods)
	}
	c2 := New(Options{Clock: clk.Now, Secret: []byte("test"), Journal: j})
	c2.Restore(context.Background(), []string{"fete"})
	r := c2.Snapshot("fete")
	if len(r.Outputs) != 1 || r.Outputs[0] != s.Outputs[0] || len(r.Periods) != 3 {
		t.Errorf("restored: %+v %+v; want %+v", r.Outputs, r.Periods, s.Outputs)
	}
}
