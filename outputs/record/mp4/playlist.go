package mp4

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// part is a run of segments that share one init segment.
type part struct {
	init     string
	segments []string
}

// readPlaylist reads the init and media segment names of the playlist in dir. Every name
// must be a plain file name inside dir.
func readPlaylist(dir, name string) ([]part, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var parts []part
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			uri, ok := attr(strings.TrimPrefix(line, "#EXT-X-MAP:"), "URI")
			if !ok || !plainName(uri) {
				return nil, fmt.Errorf("%s:%d: EXT-X-MAP without a plain URI", name, n)
			}
			if len(parts) == 0 || parts[len(parts)-1].init != uri {
				parts = append(parts, part{init: uri})
			}
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if !plainName(line) {
				return nil, fmt.Errorf("%s:%d: segment %q is not a file of the recording", name, n, line)
			}
			if len(parts) == 0 {
				return nil, fmt.Errorf("%s:%d: segment before any EXT-X-MAP (not fragmented MP4)", name, n)
			}
			p := &parts[len(parts)-1]
			p.segments = append(p.segments, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parts, nil
}

// attr returns the value of key in an attribute list (KEY="value",KEY2=value).
func attr(list, key string) (string, bool) {
	for list != "" {
		var k, v string
		k, list, _ = strings.Cut(list, "=")
		if strings.HasPrefix(list, `"`) {
			end := strings.IndexByte(list[1:], '"')
			if end < 0 {
				return "", false
			}
			v, list = list[1:1+end], list[2+end:]
		} else {
			v, list, _ = strings.Cut(list, ",")
		}
		list = strings.TrimPrefix(list, ",")
		if strings.TrimSpace(k) == key {
			return v, true
		}
	}
	return "", false
}

func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.Contains(s, "?")
}
