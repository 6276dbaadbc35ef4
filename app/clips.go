package app

import (
	"path/filepath"

	"github.com/beffroi/beffroi/web/clips"
)

// newClips makes the story clips' service: clips under <data_dir>/clips, one export at a
// time with the configured ffmpeg (and the ffprobe beside it), deleted with their
// recording.
func (a *App) newClips() {
	ffmpeg := a.cfg.Transcode.FFmpeg
	ffprobe := "ffprobe"
	if ffmpeg != "" && filepath.Base(ffmpeg) != ffmpeg {
		ffprobe = filepath.Join(filepath.Dir(ffmpeg), "ffprobe")
	}
	a.Clips = &clips.Service{Store: a.Store, Dir: filepath.Join(a.cfg.DataDir, "clips"), FFmpeg: ffmpeg, FFprobe: ffprobe,
		Workers: 1, Logger: a.log}
	a.Replays.Removed = a.Clips.RecordingRemoved
}
