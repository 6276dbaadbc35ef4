package mp4_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/beffroi/beffroi/internal/recordingtest"
	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/outputs/record/mp4"
)

type probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Duration  string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t *testing.T, in record.Info) (string, mp4.Summary) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "replay.mp4")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mp4.Write(context.Background(), in.Dir, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(out)
	if fi.Size() != s.Size {
		t.Fatalf("summary says %d bytes, file has %d", s.Size, fi.Size())
	}
	return out, s
}

// checkFile checks what every export must be: moov before mdat, an H.264 and an AAC track,
// a duration within one segment (2 s) of the playlist's, and media that decodes without an
// error from start to end.
func checkFile(t *testing.T, path string, in record.Info) probe {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	moov, mdat := bytes.Index(b, []byte("moov")), bytes.Index(b, []byte("mdat"))
	if moov < 0 || mdat < 0 || moov > mdat {
		t.Fatalf("moov at %d, mdat at %d: want moov first", moov, mdat)
	}
	p := ffprobe(t, path)
	kinds := map[string]string{}
	for _, s := range p.Streams {
		kinds[s.CodecType] = s.CodecName
	}
	if kinds["video"] != "h264" || kinds["audio"] != "aac" || len(p.Streams) != 2 {
		t.Fatalf("streams: %+v", p.Streams)
	}
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if math.Abs(d-in.Duration) > 2 {
		t.Fatalf("duration %.3f s, the playlist says %.3f s", d, in.Duration)
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("decoding the MP4: %v\n%s", err, out)
	}
	return p
}

func TestWriteOnePart(t *testing.T) {
	recordingtest.RequireTools(t, "ffmpeg", "ffprobe")
	in := recordingtest.MakeRecording(t, t.TempDir(), record.Info{ID: "concert", Stream: "main"},
		recordingtest.RecordingPart{Size: "640x360", Seconds: 12})
	path, s := build(t, in)
	checkFile(t, path, in)
	if s.Tracks != 2 || s.Parts != 1 || s.Samples < 360 {
		t.Fatalf("summary %+v", s)
	}
	// Seeking to the middle finds a keyframe there (stss is right).
	out, err := exec.Command("ffprobe", "-v", "error", "-read_intervals", "6%+0.5", "-select_streams", "v",
		"-skip_frame", "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("keyframes near 6 s: %v %q", err, out)
	}
}

func TestWriteDiscontinuity(t *testing.T) {
	recordingtest.RequireTools(t, "ffmpeg", "ffprobe")
	in := recordingtest.MakeRecording(t, t.TempDir(), record.Info{ID: "rotated", Stream: "main"},
		recordingtest.RecordingPart{Size: "640x360", Seconds: 6},
		recordingtest.RecordingPart{Size: "1280x720", Seconds: 6})
	path, s := build(t, in)
	if s.Parts != 2 {
		t.Fatalf("summary %+v", s)
	}
	checkFile(t, path, in)
	// Both resolutions decode: the first frame is 640x360, one after the discontinuity
	// 1280x720.
	sizes := map[string]bool{}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width,height",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if l = bytes.Trim(l, ", \r"); len(l) > 0 {
			sizes[string(l)] = true
		}
	}
	if !sizes["640,360"] || !sizes["1280,720"] || len(sizes) != 2 {
		t.Fatalf("frame sizes: %v", sizes)
	}
}

func TestWriteRefusesBadRecordings(t *testing.T) {
	dir := t.TempDir()
	var sink bytes.Buffer
	if _, err := mp4.Write(context.Background(), dir, &sink); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no playlist: %v", err)
	}
	for name, pl := range map[string]string{
		"traversal":   "#EXTM3U\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXTINF:2,\n../../etc/passwd\n",
		"init escape": "#EXTM3U\n#EXT-X-MAP:URI=\"/etc/passwd\"\n#EXTINF:2,\nseg-0.m4s\n",
		"no map":      "#EXTM3U\n#EXTINF:2,\nseg-0.ts\n",
		"empty":       "#EXTM3U\n#EXT-X-ENDLIST\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, mp4.PlaylistFile), []byte(pl), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := mp4.Write(context.Background(), dir, &sink); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if sink.Len() != 0 {
		t.Fatalf("%d bytes written for bad recordings", sink.Len())
	}
	// A cancelled context stops the build.
	recordingtest.RequireTools(t, "ffmpeg")
	in := recordingtest.MakeRecording(t, t.TempDir(), record.Info{ID: "c", Stream: "main"},
		recordingtest.RecordingPart{Size: "320x180", Seconds: 4})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mp4.Write(ctx, in.Dir, &sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
