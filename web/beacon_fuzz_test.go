package web

import (
	"strings"
	"testing"

	"github.com/beffroi/beffroi/relay/audience"
)

// FuzzBeacon: whatever a stranger posts as a beacon, parsing never panics, and what it
// accepts names a stream and a known protocol, with a session token for HLS.
func FuzzBeacon(f *testing.F) {
	for _, s := range []string{
		`{"stream":"conseil","session":"AYePh3xA7b66ajhCwB0HV4M-pW-u","protocol":"hls"}`,
		`{"stream":"conseil","session":"x"}`, `{"stream":"conseil","protocol":"whep"}`,
		`{"stream":"conseil","protocol":"dash"}`, `not json`, `{}`, `[]`, `null`, `{"stream":1}`,
		`{"stream":"a","session":"b"} {"stream":"c"}`, `{"stream":"a","session":"b"}   `,
		`{"stream":"` + strings.Repeat("a", 2000) + `"}`, "{\"stream\":\"\\u0000\",\"session\":\"\\ud800\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b, err := parseBeacon(strings.NewReader(body))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "beacon: ") {
				t.Errorf("%q: error %q does not say where", body, err)
			}
			return
		}
		if b.Stream == "" || (b.Protocol != audience.HLS && b.Protocol != audience.WHEP) ||
			(b.Protocol == audience.HLS && b.Session == "") {
			t.Errorf("%q accepted as %+v", body, b)
		}
	})
}
