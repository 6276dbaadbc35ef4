// Command mp4export measures how long building the replay MP4 of a long recording takes and
// how much memory it needs: it makes a 12 s fMP4 segment set with ffmpeg, repeats it (with
// rewritten decode times and sequence numbers) into a recording of -hours, then runs
// outputs/record/mp4.Write on it, writing the MP4 beside the segments.
//
//	go run ./bench/mp4export -hours 2 -size 1280x720 -bitrate 6M
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/beffroi/beffroi/outputs/record/mp4"
)

func main() {
	hours := flag.Float64("hours", 2, "length of the synthetic recording")
	size := flag.String("size", "1280x720", "video size")
	bitrate := flag.String("bitrate", "6M", "video bitrate (ffmpeg -b:v)")
	dir := flag.String("dir", "", "where to write (default: a temporary directory, removed at the end)")
	keep := flag.Bool("keep", false, "keep the recording and the MP4")
	flag.Parse()
	if err := run(*hours, *size, *bitrate, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "mp4export:", err)
		os.Exit(1)
	}
}

const clipSeconds = 12

func run(hours float64, size, bitrate, dir string, keep bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "beffroi-mp4export-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !keep {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	src := filepath.Join(dir, "src")
	rec := filepath.Join(dir, "recording")
	for _, d := range []string{src, rec} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	fmt.Printf("making a %d s clip (%s, %s)...\n", clipSeconds, size, bitrate)
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(clipSeconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", bitrate, "-maxrate", bitrate,
		"-bufsize", bitrate, "-g", "60", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k",
		"-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_playlist_type", "vod",
		"-hls_fmp4_init_filename", "init-0.mp4", "-hls_segment_filename", filepath.Join(src, "seg-%d.m4s"),
		filepath.Join(src, "index.m3u8"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	initB, err := os.ReadFile(filepath.Join(src, "init-0.mp4"))
	if err != nil {
		return err
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(initB)); err != nil {
		return err
	}
	scales := map[uint32]uint64{}
	for _, t := range init.Tracks {
		scales[uint32(t.ID)] = uint64(t.TimeScale)
	}
	var segs [][]byte
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(src, fmt.Sprintf("seg-%d.m4s", i)))
		if err != nil {
			break
		}
		segs = append(segs, b)
	}
	if err := os.WriteFile(filepath.Join(rec, "init-0.mp4"), initB, 0o644); err != nil {
		return err
	}
	reps := int(hours * 3600 / clipSeconds)
	fmt.Printf("writing %d segments (%.1f h)...\n", reps*len(segs), hours)
	var pl strings.Builder
	pl.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init-0.mp4\"\n")
	var media int64
	n := 0
	for r := range reps {
		for _, s := range segs {
			b := bytes.Clone(s)
			shift(b, uint32(n+1), func(track uint32) uint64 { return uint64(r) * clipSeconds * scales[track] })
			name := fmt.Sprintf("seg-%d.m4s", n)
			if err := os.WriteFile(filepath.Join(rec, name), b, 0o644); err != nil {
				return err
			}
			media += int64(len(b))
			fmt.Fprintf(&pl, "#EXTINF:2.000,\n%s\n", name)
			n++
		}
	}
	pl.WriteString("#EXT-X-ENDLIST\n")
	if err := os.WriteFile(filepath.Join(rec, "index.m3u8"), []byte(pl.String()), 0o644); err != nil {
		return err
	}

	// Memory while building: the Go heap sampled every 10 ms, and the process's peak RSS.
	runtime.GC()
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	out, err := os.Create(filepath.Join(rec, "replay.mp4"))
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := mp4.Write(context.Background(), rec, out)
	if err == nil {
		err = out.Sync()
	}
	took := time.Since(start)
	_ = out.Close()
	close(stop)
	<-done
	if err != nil {
		return err
	}
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	fmt.Printf("recording: %.1f h, %d segments, %d samples, %.2f GB of media\n", sum.Duration/3600, n, sum.Samples, float64(media)/1e9)
	fmt.Printf("MP4: %.2f GB in %s (%.0f MB/s), CPU %s, peak Go heap %.1f MB, peak RSS %.1f MB\n",
		float64(sum.Size)/1e9, took.Round(time.Millisecond), float64(sum.Size)/1e6/took.Seconds(), cpu.Round(time.Millisecond),
		float64(peakHeap.Load())/1e6, float64(after.Maxrss)/1e3)
	if out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
		filepath.Join(rec, "replay.mp4")).Output(); err == nil {
		fmt.Printf("ffprobe duration: %s s\n", strings.TrimSpace(string(out)))
	}
	return nil
}

// shift adds off(track) to the decode time of every traf of a media segment and sets its
// sequence number, in place.
func shift(b []byte, seq uint32, off func(track uint32) uint64) {
	walk(b, func(typ string, p []byte) {
		switch typ {
		case "mfhd":
			binary.BigEndian.PutUint32(p[4:], seq)
		case "traf":
			var track uint32
			walk(p, func(typ string, q []byte) {
				switch typ {
				case "tfhd":
					track = binary.BigEndian.Uint32(q[4:])
				case "tfdt":
					if q[0] == 1 {
						binary.BigEndian.PutUint64(q[4:], binary.BigEndian.Uint64(q[4:])+off(track))
					} else {
						binary.BigEndian.PutUint32(q[4:], binary.BigEndian.Uint32(q[4:])+uint32(off(track)))
					}
				}
			})
		}
	})
}

// walk calls f for every box of b, descending into moof.
func walk(b []byte, f func(typ string, payload []byte)) {
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return
		}
		typ, p := string(b[4:8]), b[8:size]
		if typ == "moof" {
			walk(p, f)
		}
		f(typ, p)
		b = b[size:]
	}
}
