package relay

import (
	"testing"
	"time"
)

func TestTicks(t *testing.T) {
	for _, tt := range []struct {
		ticks, rate int64
		d           time.Duration
	}{
		{0, 90000, 0},
		{90000, 90000, time.Second},
		{3003, 90000, 33366666 * time.Nanosecond},
		{48000 * 3600 * 30, 48000, 30 * time.Hour}, // ticks*time.Second would overflow
		{1<<33 - 1, 90000, 95443717677777 * time.Nanosecond},
	} {
		if got := TicksToDuration(tt.ticks, tt.rate); got != tt.d {
			t.Errorf("TicksToDuration(%d, %d) = %v, want %v", tt.ticks, tt.rate, got, tt.d)
		}
		if tt.d%time.Second == 0 {
			if got := DurationToTicks(tt.d, tt.rate); got != tt.ticks {
				t.Errorf("DurationToTicks(%v, %d) = %d, want %d", tt.d, tt.rate, got, tt.ticks)
			}
		}
	}
	if tr := NewOpusTrack(0); tr.Channels != 2 || tr.SampleRate != 48000 || tr.Codec != Opus {
		t.Errorf("NewOpusTrack(0) = %+v", tr)
	}
}
