package relaytest

import (
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// TestPictures: the pictures are H.264 that a DTS extractor takes (their slice headers fit
// the parameter sets), keyframes are IDRs, and every unit says its sequence number.
func TestPictures(t *testing.T) {
	o := Options{}
	var dtsx h264.DTSExtractor
	dtsx.Initialize()
	for n := range 3 * MaxSeq / 100 {
		u := o.VideoUnit(n)
		au := [][]byte{u}
		if o.Key(n) {
			au = [][]byte{testutil.SPS720(), testutil.PPS(), u}
		}
		if h264.IsRandomAccess(au) != (n%30 == 0) {
			t.Fatalf("picture %d: random access %v", n, !o.Key(n))
		}
		pts := int64(n) * 3000
		dts, err := dtsx.Extract(au, pts)
		if err != nil {
			t.Fatalf("picture %d: DTS extractor: %v", n, err)
		}
		if dts != pts {
			t.Fatalf("picture %d: DTS %d, want %d (no B frames)", n, dts, pts)
		}
		if UnitSeq(u) != n || !o.Intact(u) {
			t.Fatalf("picture %d: sequence %d, intact %v", n, UnitSeq(u), o.Intact(u))
		}
		for i := 0; i+2 < len(u); i++ {
			if u[i] == 0 && u[i+1] == 0 && u[i+2] <= 3 {
				t.Fatalf("picture %d: a start code or emulation sequence at %d: % x", n, i, u)
			}
		}
		a := o.AudioUnit(n)
		if len(a) != 100 || UnitSeq(a) != n || !o.Intact(a) {
			t.Fatalf("audio frame %d: %d bytes, sequence %d", n, len(a), UnitSeq(a))
		}
	}
	u := o.VideoUnit(7)
	u[len(u)/2] ^= 1
	if o.Intact(u) {
		t.Error("a damaged picture passed for intact")
	}
}

// TestSend: Send writes video and audio in timestamp order, numbered from zero, and Seek and
// Republish carry on from where asked.
func TestSend(t *testing.T) {
	st := NewStream(t, "conseil")
	p := Publish(t, st, Options{})
	r := Subscribe(t, st)
	p.Send(time.Second)
	if v, a := p.Sent(); v != 31 || a != 47 {
		t.Fatalf("Sent() = %d, %d, want 31 video and 47 audio frames (frame 30 starts 10 ns before the second)", v, a)
	}
	var last time.Duration
	next := [2]int{}
	for range 31 + 47 {
		f := Next(t, r)
		k := f.Track.Kind()
		if f.DTS < last || Seq(f) != next[k] || (k == relay.Video && f.Key != (Seq(f)%30 == 0)) {
			t.Fatalf("%s frame %d (key %v) at %v after %v, want frame %d", k, Seq(f), f.Key, f.DTS, last, next[k])
		}
		last = f.DTS
		next[k]++
	}
	p.Seek(40, 70)
	p.Republish()
	p.Send(VideoStep)
	if v, a := p.Sent(); v != 41 || a < 70 {
		t.Errorf("after Seek and Send: Sent() = %d, %d", v, a)
	}
}

// TestStart: Start publishes in real time (Opus here) until Stop.
func TestStart(t *testing.T) {
	st := NewStream(t, "conseil")
	p := Publish(t, st, Options{Audio: relay.Opus})
	if st.Track(relay.Audio).Codec != relay.Opus {
		t.Fatalf("audio track %v", st.Track(relay.Audio))
	}
	start := time.Now()
	p.Start()
	testutil.WaitFor(t, "half a second of media", func() bool { v, a := p.Sent(); return v >= 15 && a >= 25 })
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("half a second of media written in %v: not in real time", el)
	}
	p.Stop()
	v, a := p.Sent()
	time.Sleep(50 * time.Millisecond) // nothing to wait for: checking that nothing happens
	if v2, a2 := p.Sent(); v2 != v || a2 != a {
		t.Errorf("frames written after Stop: %d, %d then %d, %d", v, a, v2, a2)
	}
}
