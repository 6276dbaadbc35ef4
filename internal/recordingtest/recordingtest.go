// Package recordingtest makes recordings in the recorder's on-disk layout with ffmpeg, for the
// tests of the packages that read them (the MP4 export, the replay pages). Only _test.go
// files import it.
package recordingtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs/record"
)

// RequireTools skips the test when one of the programs is missing (or under -short);
// with BEFFROI_E2E=require a missing program fails it instead.
func RequireTools(t testing.TB, bins ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("test with real peers: skipped under -short")
	}
	var missing []string
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "missing " + strings.Join(missing, ", ") + " (apt-get install ffmpeg, or run .ci/run)"
	if os.Getenv("BEFFROI_E2E") == "require" {
		t.Fatal(msg + "; BEFFROI_E2E=require")
	}
	t.Skip(msg)
}

// RecordingPart is one run of a test recording with the same codec parameters.
type RecordingPart struct {
	Size    string  // "640x360"
	Seconds float64 // length
	// Beeps: the picture flashes white and the sound beeps (1 kHz, 50 ms, silence
	// between) at every whole second of the part, so a test can tell audio/video sync.
	Beeps bool
}

// MakeRecording writes a finished recording in the recorder's layout under
// root/<in.ID>/ with ffmpeg: testsrc2 H.264 (a keyframe every 2 s) and a sine in AAC,
// fragmented MP4 segments of 2 s, init-<n>.mp4 per part with an EXT-X-DISCONTINUITY
// between parts, a VOD playlist and recording.json. in gives the ID, stream, start time and
// state; Duration, Size, Segments and Dir are filled in. It returns the Info written.
func MakeRecording(t testing.TB, root string, in record.Info, parts ...RecordingPart) record.Info {
	t.Helper()
	RequireTools(t, "ffmpeg")
	dir := filepath.Join(root, in.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var pl strings.Builder
	pl.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n")
	seg := 0
	for n, p := range parts {
		tmp := t.TempDir()
		freq := 440 * (n + 1)
		video := "testsrc2=size=" + p.Size + ":rate=30"
		audio := fmt.Sprintf("sine=frequency=%d:sample_rate=48000", freq)
		if p.Beeps {
			video += ",drawbox=c=white:t=fill:enable='lt(mod(n,30),1)'"
			audio = "aevalsrc='if(lt(mod(t,1),0.05),0.8*sin(2*PI*1000*t),0)':s=48000"
		}
		cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error",
			"-f", "lavfi", "-i", video,
			"-f", "lavfi", "-i", audio,
			"-t", fmt.Sprint(p.Seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-sc_threshold", "0",
			"-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2",
			"-hls_playlist_type", "vod", "-hls_fmp4_init_filename", "init.mp4",
			"-hls_segment_filename", filepath.Join(tmp, "s-%d.m4s"), filepath.Join(tmp, "p.m3u8"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		if n > 0 {
			pl.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		initName := fmt.Sprintf("init-%d.mp4", n)
		if err := os.Rename(filepath.Join(tmp, "init.mp4"), filepath.Join(dir, initName)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&pl, "#EXT-X-MAP:URI=%q\n", initName)
		b, err := os.ReadFile(filepath.Join(tmp, "p.m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		var extinf string
		for _, line := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(line, "#EXTINF:"):
				extinf = line
			case strings.HasPrefix(line, "s-"):
				name := fmt.Sprintf("seg-%d.m4s", seg)
				if err := os.Rename(filepath.Join(tmp, line), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
				var d float64
				if _, err := fmt.Sscanf(strings.TrimPrefix(extinf, "#EXTINF:"), "%f", &d); err != nil {
					t.Fatalf("ffmpeg playlist: %q: %v", extinf, err)
				}
				in.Duration += d
				in.Segments++
				fmt.Fprintf(&pl, "%s\n%s\n", extinf, name)
				seg++
			}
		}
	}
	pl.WriteString("#EXT-X-ENDLIST\n")
	if err := os.WriteFile(filepath.Join(dir, record.PlaylistFile), []byte(pl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && (strings.HasPrefix(e.Name(), "seg-") || strings.HasPrefix(e.Name(), "init-")) {
			in.Size += fi.Size()
		}
	}
	if in.State == "" {
		in.State = record.Finished
	}
	if in.Started.IsZero() {
		in.Started = time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	}
	if in.State != record.Recording && in.State != record.Paused && in.Ended.IsZero() {
		in.Ended = in.Started.Add(time.Duration(in.Duration * float64(time.Second)))
	}
	in.Dir = dir
	if err := record.WriteInfo(in); err != nil {
		t.Fatal(err)
	}
	return in
}
