package record

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpMarker is in the name of every temporary file the recorder writes (a dot file, so that
// no listing of segments picks it up); Recover removes those a crash left behind.
const tmpMarker = ".tmp"

// writeNew writes data to dir/name, which must not exist yet: a temporary file is written,
// fsynced, then linked to its name (which fails rather than replace a file), and the
// directory is fsynced so that the name survives a power cut. It returns the bytes written.
func writeNew(dir, name string, data []byte) (int64, error) {
	f, err := os.CreateTemp(dir, "."+name+tmpMarker+"*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) //nolint:errcheck // gone already once linked; removed on failure
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	final := filepath.Join(dir, name)
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, err
		}
		// A file system without hard links (exFAT on a USB disk): rename, after checking
		// that nothing is there (the recorder is the directory's only writer).
		if _, serr := os.Lstat(final); !errors.Is(serr, fs.ErrNotExist) {
			return 0, err
		}
		if err := os.Rename(tmp, final); err != nil {
			return 0, err
		}
	}
	return int64(len(data)), syncDir(dir)
}

// syncDir fsyncs a directory, making the names created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// isTemp reports whether a file name is one of the recorder's temporary files.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpMarker)
}
