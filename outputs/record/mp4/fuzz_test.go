package mp4

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseInit: whatever an init segment holds (a disk error, a truncated write), parsing
// it returns an error or tracks, never panics.
func FuzzParseInit(f *testing.F) {
	var w writer
	moov := w.open("moov")
	trak := w.open("trak")
	at := w.full("tkhd", 0, 3)
	w.zeros(80)
	w.close(at)
	w.close(trak)
	w.close(moov)
	f.Add(w.b)
	f.Add([]byte{0, 0, 0, 1, 'm', 'o', 'o', 'v', 0, 0, 0, 0, 0, 0, 0, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		tracks, err := parseInit(b)
		if err == nil && len(tracks) == 0 {
			t.Fatal("no error and no track")
		}
		_ = avcParamSets(b)
	})
}

// FuzzPlaylist: a playlist never makes the export read outside the recording's directory.
func FuzzPlaylist(f *testing.F) {
	f.Add("#EXTM3U\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXTINF:2,\nseg-0.m4s\n")
	f.Add("#EXT-X-MAP:URI=\"../x\"\n../../etc/passwd\n")
	f.Add("#EXT-X-MAP:BYTERANGE=\"1@0\",URI=\"init-0.mp4\"\nseg-0.m4s\n")
	f.Fuzz(func(t *testing.T, pl string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, PlaylistFile), []byte(pl), 0o644); err != nil {
			t.Fatal(err)
		}
		parts, err := readPlaylist(dir, PlaylistFile)
		if err != nil {
			return
		}
		for _, p := range parts {
			for _, name := range append([]string{p.init}, p.segments...) {
				if !plainName(name) || filepath.Base(name) != name {
					t.Fatalf("name %q escapes the directory", name)
				}
			}
		}
	})
}
