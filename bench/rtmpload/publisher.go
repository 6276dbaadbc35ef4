package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// The published stream: 1280x720 H.264 at 30 fps with an IDR every 2 s, AAC-LC 48 kHz stereo.
const (
	fps           = 30
	gop           = 60
	idrSize       = 60000
	audioSize     = 400
	audioRate     = 48000
	audioFrameLen = 1024 // samples per AAC frame
)

// sps720 and pps720 are the parameter sets libx264 wrote for a 1280x720 30 fps clip
// (ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -frames:v 1 -c:v libx264 -g 60 -f h264):
// High profile, level 3.1.
func sps720() []byte {
	return []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10,
		0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60}
}

func pps720() []byte { return []byte{0x68, 0xef, 0x8f, 0xcb} }

// pSize returns the size of a P frame that makes the stream bitrate bits/s in total.
func pSize(bitrate int) int {
	perGOP := bitrate / 8 * gop / fps
	audio := audioSize * audioRate / audioFrameLen * gop / fps
	return max(1000, (perGOP-audio-idrSize)/(gop-1))
}

// publisher sends the synthetic stream in real time with gortmplib's Client and Writer. Each
// video NAL unit carries the wall-clock time it was written (see stampMagic), so that readers
// measure latency; the NAL payload is otherwise random bytes.
type publisher struct {
	client *gortmplib.Client
	writer *gortmplib.Writer
	video  *gortmplib.Track
	audio  *gortmplib.Track
	win    *window
	pSize  int
	nal    []byte // reused: gortmplib copies the access unit into its message
	aac    []byte

	// Written by the run goroutine, read after it returns.
	inWindow int   // stamped video frames inside the window
	sent     int   // video frames sent
	err      error // why it stopped
	done     chan struct{}
	stop     context.CancelFunc
	drainWG  sync.WaitGroup
}

// startPublisher connects to u (rtmp://host:port/app#name) and starts publishing.
func startPublisher(ctx context.Context, u *url.URL, bitrate int, win *window) (*publisher, error) {
	cl := &gortmplib.Client{URL: u, Publish: true}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := cl.Initialize(ictx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", u.Redacted(), err)
	}
	p := &publisher{
		client: cl,
		video:  &gortmplib.Track{Codec: &codecs.H264{SPS: sps720(), PPS: pps720()}},
		audio: &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: audioRate, ChannelConfig: 2,
		}}},
		win:   win,
		pSize: pSize(bitrate),
		nal:   make([]byte, idrSize),
		aac:   make([]byte, audioSize),
		done:  make(chan struct{}),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range p.nal {
		p.nal[i] = byte(rng.Uint32())
	}
	for i := range p.aac {
		p.aac[i] = byte(rng.Uint32())
	}
	p.aac[0], p.aac[1] = 0x21, 0x10 // looks like the start of an AAC raw data block
	nc := cl.NetConn()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	// gortmplib's Client announced a 2.5 MB acknowledgement window, so the server would send
	// an acknowledgement every 2.5 MB. Beffroi's RTMP ingest leaves the write deadline it set
	// at the handshake on publisher connections (ingest/rtmp/server.go), so its first write
	// after 10 s, such an acknowledgement, fails and drops the publisher. Announcing a 2 GiB
	// window keeps both servers from acknowledging during a run, which also spares the
	// measurement a little noise.
	if err := cl.Write(&message.SetWindowAckSize{Value: 1<<31 - 1}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("publish: %w", err)
	}
	p.writer = &gortmplib.Writer{Conn: cl, Tracks: []*gortmplib.Track{p.video, p.audio}}
	if err := p.writer.Initialize(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("publish: sending the tracks: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	// Throw away what the server sends (acknowledgements). Reading through gortmplib would
	// answer pings from this goroutine while the publisher writes from another.
	p.drainWG.Go(func() {
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	})
	rctx, stop := context.WithCancel(ctx)
	p.stop = stop
	go func() {
		defer close(p.done)
		p.err = p.run(rctx, nc)
	}()
	return p, nil
}

// run paces video and audio frames on the wall clock until ctx is cancelled.
func (p *publisher) run(ctx context.Context, nc net.Conn) error {
	start := time.Now()
	videoStep := time.Second / fps
	audioStep := time.Duration(audioFrameLen) * time.Second / audioRate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for vi, ai := 0, 0; ; {
		vt := time.Duration(vi) * videoStep
		at := time.Duration(ai) * audioStep
		next := min(vt, at)
		if d := time.Until(start.Add(next)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil
			}
		} else if ctx.Err() != nil {
			return nil
		}
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if vt <= at {
			if err := p.writeVideo(vi, vt); err != nil {
				return err
			}
			vi++
		} else {
			if err := p.writer.WriteMPEG4Audio(p.audio, at, p.aac); err != nil {
				return fmt.Errorf("publish: audio: %w", err)
			}
			ai++
		}
	}
}

func (p *publisher) writeVideo(i int, pts time.Duration) error {
	size := p.pSize
	hdr := byte(0x41) // nal_ref_idc 2, non-IDR slice
	if i%gop == 0 {
		size, hdr = idrSize, 0x65 // nal_ref_idc 3, IDR slice
	}
	nal := p.nal[:size]
	nal[0] = hdr
	copy(nal[stampOffset:], stampMagic)
	binary.BigEndian.PutUint32(nal[stampOffset+12:], uint32(i)) // payloads differ frame to frame
	stamp := time.Now().UnixNano()
	binary.BigEndian.PutUint64(nal[stampOffset+4:], uint64(stamp))
	if err := p.writer.WriteH264(p.video, pts, pts, [][]byte{nal}); err != nil {
		return fmt.Errorf("publish: video: %w", err)
	}
	p.sent++
	if p.win.contains(stamp) {
		p.inWindow++
	}
	return nil
}

// close stops publishing and closes the connection.
func (p *publisher) close() {
	p.stop()
	<-p.done
	p.client.Close()
	p.drainWG.Wait()
}

// failed reports whether the publisher stopped on its own.
func (p *publisher) failed() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("publisher stopped")
		}
		return p.err
	default:
		return nil
	}
}
