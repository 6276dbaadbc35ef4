package audience

import (
	"testing"
	"time"
)

// FuzzToken: whatever a stranger sends as a session token, parsing never panics, what parses
// prints back as sent, and nothing but the tokens this counter made is valid.
func FuzzToken(f *testing.F) {
	clk := &fakeClock{t: time.Date(2026, 6, 21, 20, 0, 0, 0, time.UTC)}
	c := New(Options{Clock: clk.Now, Secret: []byte("fuzz")})
	made := map[string]bool{}
	for i := range 4 {
		t := token{kind: kindOwn, id: [tokenIDLen]byte{byte(i), 1, 2, 3, 4, 5, 6, 7}}
		made[c.sign("fete", ev, &t)] = true
	}
	made[c.sharedToken("fete", ev, "192.0.2.1")] = true
	for tok := range made {
		f.Add(tok)
	}
	for _, s := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AQAAAAAAAAAAAAAAAAAAAAAAAAAA", "AgAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"____________________________", "AYePh3xA7b66ajhCwB0HV4M-pW-u", "AYePh3xA7b66ajhCwB0HV4M+pW/u"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parseToken(s)
		if ok && p.String() != s {
			t.Errorf("%q parses as a token that prints %q", s, p.String())
		}
		if c.ValidToken("fete", ev, s) && !made[s] {
			t.Errorf("%q is valid but was never made", s)
		}
		if c.ValidToken("fete", ev+1, s) || c.ValidToken("other", ev, s) {
			t.Errorf("%q is valid for another live session or stream", s)
		}
	})
}
