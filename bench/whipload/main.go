// Command whipload measures what WHIP ingest costs: the CPU of a Beffroi process receiving N
// WebRTC publishers of about 4 Mbit/s each.
//
//	go run ./bench/whipload -n 1,4,8
//
// For each count it builds and starts Beffroi (cmd/beffroi) on loopback with N streams, then
// N pion publishers in this process POST their offers to /whip/<stream> and send, in real
// time, 30 fps H.264 (an IDR of 60,000 bytes every 2 s, P frames of 15,296 bytes: 4.0 Mbit/s
// with the SPS/PPS of libx264) and 20 ms Opus packets of 160 bytes. After the warm-up it
// measures Beffroi's CPU (utime+stime from /proc/<pid>/stat) over the window, and the bitrate
// the API says each stream receives. See bench/README.md for the figures.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/beffroi/beffroi/bench/internal/benchkit"
)

// libx264's parameter sets for 1280x720 (as in bench/rtmpload).
func sps() []byte {
	return []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10,
		0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60}
}

func pps() []byte { return []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0} }

const (
	idrSize = 60000
	pSize   = 15296
	fps     = 30
	gop     = 60
	// adminToken is the API token of the Beffroi under test (admin.token), to read its streams.
	adminToken = "whipload-admin-token-0123456789"
)

func main() {
	counts := flag.String("n", "1,4,8", "publisher counts, comma-separated")
	warmup := flag.Duration("warmup", 5*time.Second, "time before measuring")
	window := flag.Duration("duration", 15*time.Second, "measurement window")
	flag.Parse()
	dir, err := os.MkdirTemp("", "whipload-")
	if err != nil {
		fail(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "beffroi")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/beffroi").CombinedOutput(); err != nil {
		fail(fmt.Errorf("go build: %w\n%s", err, out))
	}
	fmt.Println("| publishers | Mbit/s received per stream | Beffroi CPU, % of a core | CPU % per stream | CPU ms per Mbit |\n|---|---|---|---|---|")
	for _, f := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fail(fmt.Errorf("-n: %q", f))
		}
		if err := point(bin, dir, n, *warmup, *window); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "whipload:", err)
	os.Exit(1)
}

// point measures one publisher count.
func point(bin, dir string, n int, warmup, window time.Duration) error {
	addr, err := benchkit.FreeAddr("tcp")
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf("http: {addr: %q}\nrtmp: {addr: \"\"}\nrtmps: {addr: \"\"}\nsrt: {addr: \"\"}\nrtsp: {addr: \"\"}\n"+
		"webrtc: {udp_port: 0, tcp_port: -1, interfaces: [lo]}\ndata_dir: %q\nlog: {level: warn}\nadmin: {token: %q}\nstreams:\n", addr, filepath.Join(dir, "data"), adminToken)
	for i := range n {
		cfg += fmt.Sprintf("  - {name: s%d, publish_key: bench-key-%d}\n", i, i)
	}
	cfgPath := filepath.Join(dir, "beffroi.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return errors.New("beffroi did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range n {
		pc, err := publish(ctx, &wg, base, fmt.Sprintf("s%d", i), fmt.Sprintf("bench-key-%d", i))
		if err != nil {
			return err
		}
		defer pc.Close() //nolint:errcheck // end of the point
	}
	time.Sleep(warmup)
	c0, err := benchkit.ProcCPU(cmd.Process.Pid)
	if err != nil {
		return err
	}
	start := time.Now()
	time.Sleep(window)
	c1, err := benchkit.ProcCPU(cmd.Process.Pid)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	var mbps float64
	for i := range n {
		mbps += streamBitrate(base, fmt.Sprintf("s%d", i)) / 1e6
	}
	mbps /= float64(n)
	cpu := c1.Sub(c0).Total().Seconds() / secs * 100
	fmt.Printf("| %d | %.2f | %.1f | %.1f | %.1f |\n", n, mbps, cpu, cpu/float64(n), cpu*10/(mbps*float64(n)))
	return nil
}

// publish starts one publisher; its sender goroutine runs until ctx ends.
func publish(ctx context.Context, wg *sync.WaitGroup, base, stream, key string) (*webrtc.PeerConnection, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"}, "video", stream)
	if err != nil {
		return nil, err
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
	if err != nil {
		return nil, err
	}
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		s, err := pc.AddTrack(tr)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		})
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return nil, err
	}
	<-gathered
	req, _ := http.NewRequest(http.MethodPost, base+"/whip/"+stream, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST /whip/%s: %s %s", stream, resp.Status, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return nil, err
	}
	idr, p := payload(idrSize, 0x65), payload(pSize, 0x41)
	keyframe := annexB(sps(), pps(), idr)
	wg.Go(func() {
		tick := time.NewTicker(time.Second / fps)
		defer tick.Stop()
		opus := payload(160, 0xfc)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			frame := annexB(p)
			if i%gop == 0 {
				frame = keyframe
			}
			_ = video.WriteSample(media.Sample{Data: frame, Duration: time.Second / fps})
			// Opus at 50 packets a second: 5 every 3 video frames.
			for range (i+1)*5/3 - i*5/3 {
				_ = audio.WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond})
			}
		}
	})
	return pc, nil
}

// payload returns a NAL unit of size bytes: a header, then random bytes without zeros (no
// start code can appear in it).
func payload(size int, header byte) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	for i := range b {
		if b[i] == 0 {
			b[i] = 1
		}
	}
	b[0] = header
	return b
}

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

// streamBitrate returns the total bitrate the API shows for a stream, in bits/s.
func streamBitrate(base, name string) float64 {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/streams/"+name, nil) //nolint:noctx // a loopback URL made here
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var v struct {
		Tracks []struct {
			Bitrate float64 `json:"bitrate"`
		} `json:"tracks"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&v)
	var sum float64
	for _, t := range v.Tracks {
		sum += t.Bitrate
	}
	return sum
}
