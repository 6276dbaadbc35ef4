package relaytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/relay"
)

// Options shapes the synthetic media of a Publisher. The zero value is 30 fps H.264 with a
// keyframe every second and AAC, small frames.
type Options struct {
	// Source describes the publisher to the stream (default: protocol "test").
	Source relay.SourceInfo
	// SourceName is the stream's source it publishes for (relay.Stream.PublishSource); ""
	// is the primary.
	SourceName string
	// Audio is the audio codec: relay.AAC (the default, 1024-sample frames at 48 kHz) or
	// relay.Opus (20 ms frames).
	Audio relay.Codec
	// GOP is the number of video frames from one keyframe to the next (default 30).
	GOP int
	// VideoSize is the size of a P picture's NAL unit (default 300); KeySize that of a
	// keyframe's (default 4 × VideoSize).
	VideoSize, KeySize int
	// AudioSize is the size of an audio frame (default 100).
	AudioSize int
	// Fill is the byte payloads are made of between their header and their sequence number
	// (default 0xaa). It must not be zero, so that no start code can appear in a picture.
	Fill byte
	// Reorder is how long after it is decoded each picture is shown (PTS − DTS), as with B
	// frames; zero by default.
	Reorder time.Duration
}

func (o Options) withDefaults() Options {
	if o.Source.Protocol == "" {
		o.Source.Protocol = "test"
	}
	if o.Audio == "" {
		o.Audio = relay.AAC
	}
	if o.GOP <= 0 {
		o.GOP = 30
	}
	if o.VideoSize <= 0 {
		o.VideoSize = 300
	}
	if o.KeySize <= 0 {
		o.KeySize = 4 * o.VideoSize
	}
	if o.AudioSize <= 0 {
		o.AudioSize = 100
	}
	if o.Fill == 0 {
		o.Fill = 0xaa
	}
	return o
}

// AudioStep is the duration of one audio frame of the options' codec.
func (o Options) AudioStep() time.Duration {
	if o.withDefaults().Audio == relay.Opus {
		return OpusStep
	}
	return AACStep
}

// Key reports whether video frame n is a keyframe.
func (o Options) Key(n int) bool { return n%o.withDefaults().GOP == 0 }

// VideoUnit returns the one NAL unit of video frame n: a slice header (an IDR every GOP
// frames, P slices between), Fill bytes, and n as the sequence number in the last two bytes.
func (o Options) VideoUnit(n int) []byte {
	o = o.withDefaults()
	i := n % o.GOP
	h := SliceHeader(i == 0, false, i, i)
	size := o.VideoSize
	if i == 0 {
		size = o.KeySize
	}
	u := make([]byte, max(size, len(h)+SeqSize))
	copy(u, h)
	for j := len(h); j < len(u); j++ {
		u[j] = o.Fill
	}
	putSeq(u, n)
	return u
}

// AudioUnit returns audio frame n: a first byte that fits the codec (an AAC single channel
// element, an Opus TOC for one 20 ms CELT frame), Fill bytes, and n as the sequence number in
// the last two bytes.
func (o Options) AudioUnit(n int) []byte {
	o = o.withDefaults()
	u := make([]byte, max(o.AudioSize, 1+SeqSize))
	u[0] = 0x21
	if o.Audio == relay.Opus {
		u[0] = 0xfc
	}
	for j := 1; j < len(u); j++ {
		u[j] = o.Fill
	}
	putSeq(u, n)
	return u
}

// Intact reports whether u is exactly the unit these options make for its sequence number,
// a picture's or an audio frame's.
func (o Options) Intact(u []byte) bool {
	n := UnitSeq(u)
	if n < 0 {
		return false
	}
	want := o.VideoUnit(n)
	if string(u) == string(want) {
		return true
	}
	want = o.AudioUnit(n)
	return string(u) == string(want)
}

// Publisher publishes synthetic H.264 and audio to a relay stream, in media time with Send
// or in real time between Start and Stop. Video frame n and audio frame n carry n as their
// sequence number (Seq), and their timestamps are n steps from zero. Its methods are safe for
// concurrent use.
type Publisher struct {
	t  testing.TB
	st *relay.Stream
	o  Options

	mu           sync.Mutex // held while writing
	pub          *relay.Publisher
	video, audio *relay.Track
	nv, na       int
	stop         func()
}

// Publish starts a publisher session on st with an H.264 track (H264Track) and an audio
// track of o.Audio, and returns the publisher that writes its frames. The session is closed
// when the test ends.
func Publish(t testing.TB, st *relay.Stream, o Options) *Publisher {
	t.Helper()
	p := &Publisher{t: t, st: st, o: o.withDefaults()}
	pub, err := st.PublishSource(p.o.SourceName, p.o.Source)
	if err != nil {
		t.Fatal(err)
	}
	p.pub = pub
	a := AACTrack(t)
	if p.o.Audio == relay.Opus {
		a = OpusTrack()
	}
	p.SetTrack(H264Track(t))
	p.SetTrack(a)
	t.Cleanup(func() {
		p.Stop()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.pub.Close()
	})
	return p
}

// NewStream returns a stream that is not in a registry, with a ring large enough for a few
// seconds of media; it is stopped when the test ends.
func NewStream(t testing.TB, name string) *relay.Stream {
	st := relay.NewStream(relay.StreamOptions{Name: name, PublishKey: "pk-" + name, RingSize: 4096})
	t.Cleanup(st.Stop)
	return st
}

// Stream returns the stream p publishes to.
func (p *Publisher) Stream() *relay.Stream { return p.st }

// Options returns p's options, defaults filled in.
func (p *Publisher) Options() Options { return p.o }

// Video returns the video track the frames are written on.
func (p *Publisher) Video() *relay.Track {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.video
}

// Audio returns the audio track the frames are written on.
func (p *Publisher) Audio() *relay.Track {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.audio
}

// SetTrack replaces the video or audio track (by tr's kind): new parameters, or another
// codec (the payloads stay H.264 slices and AAC or Opus frames).
func (p *Publisher) SetTrack(tr *relay.Track) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, err := p.pub.SetTrack(tr)
	if err != nil {
		p.t.Fatal(err)
	}
	if tr.Kind() == relay.Video {
		p.video = cur
	} else {
		p.audio = cur
	}
}

// Republish starts a new publisher session on the stream with the same tracks, as an
// encoder that reconnects; the previous session is closed. Sequence numbers go on.
func (p *Publisher) Republish() {
	p.t.Helper()
	p.mu.Lock()
	old, v, a := p.pub, p.video, p.audio
	old.Close()
	p.pub = p.st.Publish(p.o.Source)
	p.mu.Unlock()
	p.SetTrack(v)
	p.SetTrack(a)
}

// Sent returns how many video and audio frames were written: the sequence numbers of the
// next ones.
func (p *Publisher) Sent() (video, audio int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nv, p.na
}

// Seek makes video frame video and audio frame audio the next ones written (their sequence
// numbers and timestamps), as when joining a source mid-stream.
func (p *Publisher) Seek(video, audio int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nv, p.na = video, audio
}

// Send writes d of media at once, video and audio interleaved in timestamp order, starting
// where the previous frames stopped; it returns once both tracks reached the video's time plus
// d. It fails the test if the stream refuses a frame.
func (p *Publisher) Send(d time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.writeUntil(time.Duration(p.nv)*VideoStep + d); err != nil {
		p.t.Fatal(err)
	}
}

// writeUntil writes every frame that starts before end. p.mu is held.
func (p *Publisher) writeUntil(end time.Duration) error {
	step := p.o.AudioStep()
	for {
		vd, ad := time.Duration(p.nv)*VideoStep, time.Duration(p.na)*step
		if vd >= end && ad >= end {
			return nil
		}
		var f *relay.Frame
		if vd <= ad {
			f = &relay.Frame{Track: p.video, DTS: vd, PTS: vd + p.o.Reorder, Key: p.o.Key(p.nv),
				Units: [][]byte{p.o.VideoUnit(p.nv)}}
			p.nv++
		} else {
			f = &relay.Frame{Track: p.audio, DTS: ad, PTS: ad, Key: true, Units: [][]byte{p.o.AudioUnit(p.na)}}
			p.na++
		}
		if err := p.pub.WriteFrame(f); err != nil {
			return err
		}
	}
}

// Start writes the media in real time, from where it stopped, in a goroutine, until Stop,
// the test's end, or the stream refusing a frame (it ended). It does nothing if p is already
// running.
func (p *Publisher) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	base := time.Duration(p.nv) * VideoStep
	go func() {
		defer close(done)
		start := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			p.mu.Lock()
			err := p.writeUntil(base + time.Since(start) + time.Millisecond)
			p.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	p.stop = func() { cancel(); <-done }
}

// Stop stops what Start started and waits for it; the session stays open.
func (p *Publisher) Stop() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Close stops p and ends its publisher session (the stream goes into its reconnect grace).
func (p *Publisher) Close() {
	p.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pub.Close()
}
