package relay

import "time"

// TicksToDuration converts a timestamp counted at clockRate ticks per second (90 kHz video,
// 48 kHz audio, MPEG-TS's 90 kHz) into a duration, without the overflow of
// ticks*time.Second after a day or so of stream.
func TicksToDuration(ticks, clockRate int64) time.Duration {
	return time.Duration(ticks/clockRate)*time.Second +
		time.Duration(ticks%clockRate)*time.Second/time.Duration(clockRate)
}

// DurationToTicks converts a duration into clockRate ticks per second, without overflowing.
func DurationToTicks(d time.Duration, clockRate int64) int64 {
	return int64(d/time.Second)*clockRate + int64(d%time.Second)*clockRate/int64(time.Second)
}

// NewOpusTrack returns an Opus track (always 48 kHz); channels <= 0 means stereo.
func NewOpusTrack(channels int) *Track {
	if channels <= 0 {
		channels = 2
	}
	return &Track{Codec: Opus, SampleRate: 48000, Channels: channels}
}
