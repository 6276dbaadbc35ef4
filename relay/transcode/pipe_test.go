package transcode

import (
	"errors"
	"io"
	"testing"

	"github.com/beffroi/beffroi/relay"
)

// TestPipeWriterStalled: a pipe ffmpeg stops reading fills the queue up to its limit, then
// the writer says so instead of blocking (the feeder must never wait on ffmpeg).
func TestPipeWriterStalled(t *testing.T) {
	r, w := io.Pipe()
	p := newPipeWriter(w)
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 2*pipeQueueLimit/len(chunk) && err == nil; i++ {
		_, err = p.Write(chunk)
	}
	if !errors.Is(err, errFFmpegStalled) {
		t.Fatalf("Write: %v, want errFFmpegStalled", err)
	}
	// ffmpeg dies: the goroutine stops at once, and later writes fail.
	_ = r.CloseWithError(errors.New("ffmpeg exited"))
	_ = p.Close()
	p.Wait()
	if _, err := p.Write(chunk); err == nil {
		t.Error("Write after the pipe broke succeeded")
	}
}

// TestFeedRestartsOnLargerPicture: the re-encoder's output size is fixed; a source picture
// larger than it restarts ffmpeg, a smaller one does not.
func TestFeedRestartsOnLargerPicture(t *testing.T) {
	vp8 := &relay.Track{Codec: relay.VP8, Width: 480, Height: 270}
	p, err := makePlan(vp8, nil, rtmpNeeds, false)
	if err != nil {
		t.Fatal(err)
	}
	f := &feeder{p: p, ivf: &ivfWriter{w: io.Discard}}
	frame := func(w, h int) *relay.Frame {
		return &relay.Frame{Track: &relay.Track{Codec: relay.VP8, Width: w, Height: h}, Key: true, Units: [][]byte{{0x10, 0x02}}}
	}
	for _, c := range []struct {
		w, h int
		want error
	}{{480, 270, nil}, {1280, 720, nil}, {320, 180, nil}, {1920, 1080, errTracksChanged}} {
		if err := f.write(frame(c.w, c.h)); !errors.Is(err, c.want) {
			t.Errorf("%dx%d: %v, want %v", c.w, c.h, err, c.want)
		}
	}
}
