package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/ingest/netstats"
	"github.com/beffroi/beffroi/internal/netnstest"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/outputs/record"
)

// badNetwork is the phone's network of issue 10: 80 ms ± 40 ms each way, and loss.
func badNetwork(loss float64) netnstest.Impairment {
	return netnstest.Impairment{Loss: loss, Delay: 80 * time.Millisecond, Jitter: 40 * time.Millisecond}
}

// Timeline of the bad-network tests: on air this long, then the link is cut for netemCut,
// then on air netemAfter more.
const (
	netemBefore = 60 * time.Second
	netemCut    = 5 * time.Second
	netemAfter  = 10 * time.Second
)

// makeLongClip returns a 360p clip as long as a bad-network test's broadcast, sent whole:
// ffmpeg's -stream_loop repeats an audio timestamp at each loop (ffmpeg 5.1), which the
// tests would take for Beffroi's.
func makeLongClip(t *testing.T) string {
	total := netemBefore + netemCut + netemAfter + 5*time.Second
	return clip(t, "640x360", "-t", strconv.Itoa(int(total.Seconds()))) // the last -t is the one ffmpeg takes
}

// cutWindow is when the link was cut, on the test's clock.
type cutWindow struct{ from, to time.Time }

// cutLink waits until at, cuts the phone's link for netemCut and restores it.
func cutLink(t *testing.T, phone *netnstest.Phone, at time.Time) cutWindow {
	t.Helper()
	select {
	case <-time.After(time.Until(at)):
	case <-t.Context().Done():
		t.Fatal("the test ended before the cut")
	}
	var w cutWindow
	w.from = time.Now()
	phone.Cut()
	t.Logf("link cut at +%s: %+v", netemBefore, phone.Stats())
	time.Sleep(netemCut) // the cut itself lasts this long: nothing is waited for
	phone.Restore()
	w.to = time.Now()
	t.Logf("link restored: %+v", phone.Stats())
	return w
}

// videoPackets counts a file's video packets (frames) with ffprobe.
func videoPackets(t *testing.T, file string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe -count_packets %s: %v", file, err)
	}
	n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(string(out)), ","))
	if err != nil {
		t.Fatalf("ffprobe -count_packets %s: %q", file, out)
	}
	return n
}

// networkCounters reads the stream's "network" in the API: false when it has none.
func networkCounters(t *testing.T, b *beffroi, stream string) (netstats.Counters, bool) {
	t.Helper()
	_, body, err := b.getStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Network *netstats.Counters `json:"network"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	if v.Network == nil {
		return netstats.Counters{}, false
	}
	return *v.Network, true
}

// checkDecodes decodes a file from end to end: ffmpeg must get through it. What it says of
// damaged pictures (the frames that follow a cut refer to frames lost in it) is logged:
// Beffroi passes them on, as the platform's decoder conceals them. A decoder concealing
// damage may also hand its pictures out of order ("non monotonically increasing dts" at its
// output): that too is logged then, and an error only in a decode without damage. The files'
// own timestamps are checked apart, strictly (packetDTS and assertIncreasing).
func checkDecodes(t *testing.T, file string) {
	t.Helper()
	msg := decodeAll(t, file)
	if strings.HasPrefix(msg, "exit status") || strings.HasPrefix(msg, "signal") {
		t.Errorf("ffmpeg cannot decode %s: %s", file, msg)
		return
	}
	var damage, stamps []string
	for l := range strings.Lines(msg) {
		low := strings.ToLower(l)
		if strings.Contains(low, "dts") || strings.Contains(low, "pts") || strings.Contains(low, "timestamp") {
			stamps = append(stamps, strings.TrimSpace(l))
			continue
		}
		damage = append(damage, strings.TrimSpace(l))
	}
	if len(damage) > 0 {
		t.Logf("%s: the decoder concealed %d damaged pictures: %q", file, len(damage), damage)
		if len(stamps) > 0 {
			t.Logf("%s: and handed pictures out of order around them: %q", file, stamps)
		}
		return
	}
	for _, l := range stamps {
		t.Errorf("%s: a timestamp error: %s", file, l)
	}
}

// srtEncoder is ffmpeg in the phone's namespace publishing a clip over SRT in real time, and
// publishing again when its connection breaks, as an encoder app does, until its end. It
// counts the video frames it sent from ffmpeg's progress reports.
type srtEncoder struct {
	phone  *netnstest.Phone
	dir    string
	target string
	clip   string
	logs   testutil.LogBuffer

	mu   sync.Mutex
	runs []string // each run's progress file
	done chan struct{}
}

// startSRTEncoder starts publishing until end.
func startSRTEncoder(t *testing.T, phone *netnstest.Phone, target, clip string, end time.Time) *srtEncoder {
	e := &srtEncoder{phone: phone, dir: t.TempDir(), target: target, clip: clip, done: make(chan struct{})}
	ctx, cancel := context.WithDeadline(t.Context(), end.Add(30*time.Second))
	go func() {
		defer close(e.done)
		defer cancel()
		for left := time.Until(end); left > time.Second; left = time.Until(end) {
			e.run(ctx, left)
			if ctx.Err() != nil {
				return
			}
			time.Sleep(500 * time.Millisecond) // the app's pause before it calls again
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-e.done
		t.Logf("SRT encoder (%d runs):\n%s", e.Runs(), e.logs.String())
	})
	return e
}

// run publishes once, for at most d.
func (e *srtEncoder) run(ctx context.Context, d time.Duration) {
	e.mu.Lock()
	progress := filepath.Join(e.dir, fmt.Sprintf("progress-%d", len(e.runs)))
	e.runs = append(e.runs, progress)
	e.mu.Unlock()
	cmd := e.phone.Command(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-progress", progress, "-stats_period", "0.2",
		"-re", "-i", e.clip, "-t", strconv.FormatFloat(d.Seconds(), 'f', 1, 64),
		"-c", "copy", "-f", "mpegts", e.target)
	cmd.Stdout, cmd.Stderr = &e.logs, &e.logs
	start := time.Now()
	err := cmd.Run()
	fmt.Fprintf(&e.logs, "run %d: %.1f s, %v\n", len(e.runs), time.Since(start).Seconds(), err)
}

// Runs is how many times ffmpeg connected (or tried to).
func (e *srtEncoder) Runs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

// Sent is the number of video frames sent so far, from every run's last progress report.
func (e *srtEncoder) Sent() int {
	e.mu.Lock()
	runs := append([]string(nil), e.runs...)
	e.mu.Unlock()
	total := 0
	for _, p := range runs {
		total += lastProgressFrame(p)
	}
	return total
}

// Wait waits for the encoder's end.
func (e *srtEncoder) Wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-e.done:
	case <-time.After(timeout):
		t.Fatalf("the SRT encoder still runs %s after its end", timeout)
	}
}

// lastProgressFrame reads the last frame count of an ffmpeg -progress file.
func lastProgressFrame(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "frame="); ok {
			if i, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				n = i
			}
		}
	}
	return n
}

// TestNetemSRTPublisher: ffmpeg, in a phone's network namespace, publishes over SRT with a
// 500 ms latency through a link that loses 5 % of the packets each way and delays them by
// 80 ms ± 40 ms, for 60 s; the link is then cut for 5 s and restored, and the broadcast goes
// on for 10 s. The platform (nginx-rtmp) keeps one session and receives at least 99 % of the
// video frames sent outside the cut (SRT retransmits what the link loses); the event is one
// recording that ffmpeg decodes from end to end, timestamps increasing, and the stream's API
// shows what the network lost and SRT recovered.
// checkPlatformShare checks the platform's one recording: at least share of the video frames
// sent outside the cut, decoded end to end with increasing timestamps.
func checkPlatformShare(t *testing.T, n *nginx, outside, share float64) {
	t.Helper()
	rec := singleRecording(t, n)
	got := videoPackets(t, rec)
	t.Logf("platform: %d video frames of the %.0f sent outside the cut (%.2f %%)", got, outside, 100*float64(got)/outside)
	if float64(got) < share*outside {
		t.Errorf("the platform received %d video frames of the %.0f sent outside the cut, want at least %.0f %%", got, outside, 100*share)
	}
	checkDecodes(t, rec)
	assertIncreasing(t, rec+" video", packetDTS(t, rec, "v"))
	assertIncreasing(t, rec+" audio", packetDTS(t, rec, "a"))
}

// checkOneRecording checks that the event is one recording of b that decodes end to end, and
// returns its playlist.
func checkOneRecording(t *testing.T, b *beffroi) string {
	t.Helper()
	recs := recordingsIn(t, filepath.Join(b.Cfg.DataDir, "recordings"))
	if len(recs) != 1 {
		t.Fatalf("%d recordings of the event, want 1: %+v", len(recs), recs)
	}
	pl := filepath.Join(recs[0].Dir, record.PlaylistFile)
	checkDecodes(t, pl)
	return pl
}

func TestNetemSRTPublisher(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	phone := netnstest.New(t)
	clip := makeLongClip(t)
	n := startNginx(t)
	b := startBeffroi(t, func(c *config.Config) {
		withNginx(n)(c)
		c.SRT.Addr = net.JoinHostPort(phone.HostIP.String(), "0") // the host's end of the phone's link
	})
	link := badNetwork(0.05)
	phone.Impair(link, link)
	t.Logf("phone %s at %s, Beffroi's SRT at %s; link: %s", phone.Namespace, phone.PhoneIP, b.SRTAddr(), link)

	// ffmpeg's SRT latency is in microseconds; linger lets the last packets be acknowledged
	// before the encoder hangs up.
	target := srtPublishURL(b.SRTAddr(), "publish:event:"+publishKey, false) + "&latency=500000&linger=5"
	start := time.Now()
	end := start.Add(netemBefore + netemCut + netemAfter)
	enc := startSRTEncoder(t, phone, target, clip, end)
	waitStream(t, b, "event", "live", 20*time.Second)
	waitDest(t, b, "event", "nginx1", outputs.StateLive, 20*time.Second)

	cutAt := start.Add(netemBefore)
	before := make(chan int, 1)
	go func() { // the count as the cut starts, taken as close to it as the reports allow
		time.Sleep(time.Until(cutAt))
		before <- enc.Sent()
	}()
	w := cutLink(t, phone, cutAt)
	sentInCut := enc.Sent() - <-before
	enc.Wait(t, 60*time.Second)
	sent := enc.Sent()
	t.Logf("encoder: %d video frames sent, %d of them during the %.1f s cut; %d runs; link %+v",
		sent, sentInCut, w.to.Sub(w.from).Seconds(), enc.Runs(), phone.Stats())

	v := apiStream(t, b, "event")
	t.Logf("stream after the broadcast: state %s, %d publishes", v.State, v.Publishes)
	// What the network did shows in the API: the link lost 5 % each way.
	if c, ok := networkCounters(t, b, "event"); !ok {
		t.Errorf("the stream's API shows no network counters after a broadcast over a lossy link")
	} else {
		t.Logf("the stream's network counters: %+v", c)
		if c.LostPackets == 0 || c.NACKs == 0 || c.Retransmitted == 0 {
			t.Errorf("network counters %+v: want lost packets, NAKs and retransmissions", c)
		}
	}
	b.Stop(t)

	checkPlatformShare(t, n, float64(sent-sentInCut), 0.99)
	// The timeline follows the wall clock across the cut: one step of about the cut.
	pl := checkOneRecording(t, b)
	for _, kind := range []string{"v", "a"} {
		dts := packetDTS(t, pl, kind)
		assertIncreasing(t, "the recording's "+kind, dts)
		if step, at := maxGap(dts); step > netemCut.Seconds()+2 {
			t.Errorf("the recording (%s): a %.2f s gap in the timestamps at %.2f s", kind, step, at)
		}
	}
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), publishKey)
}
