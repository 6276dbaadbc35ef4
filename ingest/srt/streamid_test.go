package srt

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	gosrt "github.com/datarhei/gosrt"
)

var streamIDTests = []struct {
	id          string
	stream, key string
	err         *refusal
}{
	{id: "publish:conseil:pk-1", stream: "conseil", key: "pk-1"},
	{id: "publish:conseil:pk=1", stream: "conseil", key: "pk=1"},
	{id: "#!::r=conseil,m=publish,s=pk-1", stream: "conseil", key: "pk-1"},
	{id: "#!::m=publish,s=pk-1,r=conseil", stream: "conseil", key: "pk-1"},
	{id: "#!::u=regie,r=conseil,m=publish,s=pk-1", stream: "conseil", key: "pk-1"},
	{id: "#!::r=conseil,m=publish,s=pk-1,t=stream,h=beffroi.example", stream: "conseil", key: "pk-1"},
	{id: "#!::r=conseil,m=publish,s=pk=1", stream: "conseil", key: "pk=1"},
	{id: "#!::r=conseil,m=publish,s=pk-1,x=", stream: "conseil", key: "pk-1"},
	{id: "%23%21%3A%3Ar%3Dconseil%2Cm%3Dpublish%2Cs%3Dpk-1", stream: "conseil", key: "pk-1"},
	{id: "publish%3Aconseil%3Apk-1", stream: "conseil", key: "pk-1"},
	{id: "publish:conseil:pk%41", stream: "conseil", key: "pk%41"}, // well formed as sent: kept
	{id: "", err: errNoStreamID},
	{id: "pk-1", err: errMalformed},
	{id: "publish", err: errMalformed},
	{id: "publish:", err: errMalformed},
	{id: "publish:conseil", err: errMalformed},
	{id: "publish:conseil:", err: errMalformed},
	{id: "publish::pk-1", err: errMalformed},
	{id: "publish:conseil:user:pass", err: errMalformed},
	{id: "PUBLISH:conseil:pk-1", err: errMalformed},
	{id: "read:conseil", err: errReading},
	{id: "read:conseil:pk-1", err: errReading},
	{id: "request:conseil", err: errReading},
	{id: "play", err: errReading},
	{id: "#!::r=conseil,m=request", err: errReading},
	{id: "#!::r=conseil,s=pk-1", err: errReading},
	{id: "#!::r=conseil,m=bidirectional,s=pk-1", err: errBadMode},
	{id: "#!::r=conseil,m=,s=pk-1", err: errBadMode},
	{id: "#!::r=conseil,m=publish,s=pk-1,t=file", err: errBadType},
	{id: "#!::r=conseil,m=publish", err: errNoKey},
	{id: "#!::r=conseil,m=publish,s=", err: errNoKey},
	{id: "#!::m=publish,s=pk-1", err: errMalformed},
	{id: "#!::r=,m=publish,s=pk-1", err: errMalformed},
	{id: "#!::r=conseil,r=marche,m=publish,s=pk-1", err: errMalformed},
	{id: "#!::r=conseil,m=publish,s=pk-1,s=pk-2", err: errMalformed},
	{id: "#!::r=conseil,,m=publish,s=pk-1", err: errMalformed},
	{id: "#!::r=conseil,m=publish,s", err: errMalformed},
	{id: "#!::", err: errMalformed},
	{id: "#!:r=conseil,m=publish,s=pk-1", err: errMalformed},
	{id: "%zz", err: errMalformed},
}

func TestParseStreamID(t *testing.T) {
	for _, tt := range streamIDTests {
		stream, key, err := parseStreamID(tt.id)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("parseStreamID(%q) = %q, %q, %v; want %q", tt.id, stream, key, err, tt.err)
			}
			continue
		}
		if err != nil || stream != tt.stream || key != tt.key {
			t.Errorf("parseStreamID(%q) = %q, %q, %v; want %q, %q", tt.id, stream, key, err, tt.stream, tt.key)
		}
	}
}

// refusals are every refusal parseStreamID may return: constant messages, so none quotes the
// stream ID (and its key).
var refusals = map[*refusal]bool{
	errNoStreamID: true, errMalformed: true, errReading: true, errBadMode: true, errBadType: true, errNoKey: true,
}

func FuzzStreamID(f *testing.F) {
	for _, tt := range streamIDTests {
		f.Add(tt.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		stream, key, err := parseStreamID(id)
		if err != nil {
			var r *refusal
			if !errors.As(err, &r) || !refusals[r] || r.reason == 0 {
				t.Fatalf("parseStreamID(%q): error %v is not one of the refusals", id, err)
			}
			if stream != "" || key != "" {
				t.Fatalf("parseStreamID(%q) = %q, %q with error %v", id, stream, key, err)
			}
			return
		}
		if stream == "" || key == "" {
			t.Fatalf("parseStreamID(%q) = %q, %q: empty stream or key", id, stream, key)
		}
		// The access-control form separates its fields with commas: none can hold one.
		dec, _ := url.PathUnescape(id)
		acForm := strings.HasPrefix(id, accessControlPrefix) ||
			!strings.HasPrefix(id, "publish") && strings.HasPrefix(dec, accessControlPrefix)
		if acForm && (strings.Contains(stream, ",") || strings.Contains(key, ",")) {
			t.Fatalf("parseStreamID(%q) = %q, %q: a field holds a comma", id, stream, key)
		}
		if strings.Contains(stream, ":") || strings.Contains(key, ":") {
			if !strings.HasPrefix(id, accessControlPrefix) && !strings.Contains(id, "%") {
				t.Fatalf("parseStreamID(%q) = %q, %q: a field holds a colon", id, stream, key)
			}
		}
		// Whatever parses builds back into both forms, which parse into the same fields.
		if !strings.Contains(stream, ":") && !strings.Contains(key, ":") && !strings.Contains(stream, "%") && !strings.Contains(key, "%") {
			if s, k, err := parseStreamID("publish:" + stream + ":" + key); err != nil || s != stream || k != key {
				t.Fatalf("publish:%s:%s parses into %q, %q, %v", stream, key, s, k, err)
			}
		}
		if !strings.ContainsAny(stream+key, ",%") && !strings.HasPrefix(key, "=") {
			ac := accessControlPrefix + "r=" + stream + ",m=publish,s=" + key
			if s, k, err := parseStreamID(ac); err != nil || s != stream || k != key {
				t.Fatalf("%s parses into %q, %q, %v", ac, s, k, err)
			}
		}
	})
}

func TestRefusalReasons(t *testing.T) {
	// The reasons callers see: SRT's access-control codes.
	for r, want := range map[*refusal]gosrt.RejectionReason{
		errNoStreamID: gosrt.REJX_BAD_REQUEST, errMalformed: gosrt.REJX_BAD_REQUEST,
		errReading: gosrt.REJX_BAD_MODE, errNoKey: gosrt.REJX_UNAUTHORIZED,
	} {
		if r.reason != want {
			t.Errorf("%q: reason %d, want %d", r.msg, r.reason, want)
		}
	}
}
