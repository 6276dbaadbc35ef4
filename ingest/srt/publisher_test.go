package srt

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// demuxBytes runs a publisher over data and returns the frames it published.
func demuxBytes(t *testing.T, data []byte) ([]*relay.Frame, error) {
	t.Helper()
	reg := relay.NewRegistry(relay.RegistryOptions{})
	st, err := reg.Add(streamName, publishKey)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.StopAll()
	pub := st.Publish(relay.SourceInfo{Protocol: protocol})
	defer pub.Close()
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := &publisher{pub: pub, log: slog.New(slog.DiscardHandler)}
	err = p.run(bytes.NewReader(data), func() {})
	var frames []*relay.Frame
	for {
		f, ok := r.TryNext()
		if !ok {
			return frames, err
		}
		frames = append(frames, f)
	}
}

func seedTS(t testing.TB, base int64, d time.Duration) []byte {
	var b bytes.Buffer
	e := newTSEncoder(t, &b)
	e.base = base
	e.mustSend(d)
	return b.Bytes()
}

// TestDemuxBytes: the publisher turns an MPEG-TS byte stream into frames, up to its end.
func TestDemuxBytes(t *testing.T) {
	frames, err := demuxBytes(t, seedTS(t, 90000, 300*time.Millisecond))
	if err == nil {
		t.Error("no error at the end of the stream")
	}
	var video, audio int
	for _, f := range frames {
		if f.Track.Kind() == relay.Video {
			video++
		} else {
			audio++
		}
	}
	// 9 pictures (the last one waits for a next PES that never comes), 15 AAC access units.
	if video < 8 || audio < 14 {
		t.Errorf("%d video and %d audio frames from 300 ms of media", video, audio)
	}
}

// FuzzMPEGTS feeds what a stranger may send after the handshake to the publisher, seeded with
// well-formed MPEG-TS: it never panics (a panic of the demuxer, recovered, fails too), and
// whatever reaches the relay is well formed.
func FuzzMPEGTS(f *testing.F) {
	ts := seedTS(f, 90000, 300*time.Millisecond)
	f.Add(ts)
	f.Add(ts[:188*5])
	f.Add(seedTS(f, 1<<33-9000, 200*time.Millisecond))
	f.Add([]byte{0x47, 0x40, 0x00, 0x10, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256<<10 {
			return
		}
		frames, err := demuxBytes(t, data)
		var pe *panicError
		if errors.As(err, &pe) {
			t.Fatalf("demuxer panic: %v\n%s", pe.v, pe.stack)
		}
		for _, f := range frames {
			if f.Track == nil || len(f.Units) == 0 {
				t.Fatalf("frame without track or payload: %+v", f)
			}
			if f.Track.Kind() == relay.Video && f.Track.SPS == nil {
				t.Fatal("video frame on a track without parameter sets")
			}
		}
	})
}
