package whip

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beffroi/beffroi/internal/netguard"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
)

// countingServer is an HTTP server on 127.0.0.1 that counts its requests and answers with h.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// pushOnce makes a pusher to raw with o and runs one Push of a live source.
func pushOnce(t *testing.T, raw string, o outputs.Options) error {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPusher(u, o, Config{Net: senderNet(t)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := liveSource(t).Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testutil.WaitTimeout)
	defer cancel()
	pr := &progress{}
	err = p.Push(ctx, r, pr)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Push = %v (context: %v), want an error", err, ctx.Err())
	}
	if pr.live.Load() {
		t.Error("the push reported live")
	}
	testutil.AssertNoSecret(t, "the error", err.Error(), publishKey, url.QueryEscape(publishKey))
	return err
}

// TestRedirectNotFollowed: an endpoint that redirects gets an error with its status; the
// redirect's target receives nothing (neither the offer nor the token).
func TestRedirectNotFollowed(t *testing.T) {
	target, hits := countingServer(t, nil)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		ep, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/whip/x", code)
		})
		err := pushOnce(t, "whip+"+ep.URL+"/whip/conseil?token="+publishKey, loopback())
		if want := "endpoint answered " + strconv.Itoa(code) + " " + http.StatusText(code); !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "redirects are not followed") {
			t.Errorf("%d: %v", code, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests", n)
	}
}

// TestForeignLocationRefused: a session URL on another origin is refused, and no DELETE (with
// the token) goes there.
func TestForeignLocationRefused(t *testing.T) {
	other, hits := countingServer(t, nil)
	ep, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", other.URL+"/session/1")
		w.Header().Set("Content-Type", "application/sdp")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("v=0\r\n"))
	})
	err := pushOnce(t, "whip+"+ep.URL+"/whip/conseil?token="+publishKey, loopback())
	if !strings.Contains(err.Error(), "Location is on another origin") {
		t.Errorf("Push = %v, want the foreign Location refused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the foreign origin received %d requests", n)
	}
}

// TestErrorShowsStatusNotBody: what a server answers besides its status never reaches the
// error (the API, the websocket, the log).
func TestErrorShowsStatusNotBody(t *testing.T) {
	const body = "ami-id\ninstance-id\nroot:x:0:0:root:/root:/bin/bash"
	for _, code := range []int{http.StatusOK, http.StatusForbidden, http.StatusNotFound, http.StatusInternalServerError} {
		ep, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		})
		err := pushOnce(t, "whip+"+ep.URL+"/whip/conseil?token="+publishKey, loopback())
		if want := "endpoint answered " + strconv.Itoa(code) + " " + http.StatusText(code); !strings.Contains(err.Error(), want) {
			t.Errorf("%d: %v, want the status", code, err)
		}
		testutil.AssertNoSecret(t, "the error", err.Error(), "ami-id", "instance-id", "root:x")
	}
}

// TestPrivateEndpointRefused: without the opt-in, an endpoint on loopback is refused before
// any request.
func TestPrivateEndpointRefused(t *testing.T) {
	ep, hits := countingServer(t, nil)
	err := pushOnce(t, "whip+"+ep.URL+"/whip/conseil?token="+publishKey, outputs.Options{})
	var re *netguard.RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "127.0.0.1 is on a private network (loopback)") {
		t.Errorf("Push = %v, want the private-network refusal", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the endpoint received %d requests", n)
	}
}

func TestSessionURL(t *testing.T) {
	ep, _ := url.Parse("https://live.example.org/whip/conseil?region=eu")
	for _, tc := range []struct{ loc, want string }{
		{"/whip/conseil/s1", "https://live.example.org/whip/conseil/s1"},
		{"s1", "https://live.example.org/whip/s1"},
		{"https://live.example.org/session/s1", "https://live.example.org/session/s1"},
		{"https://LIVE.example.org:443/session/s1", "https://LIVE.example.org:443/session/s1"},
		{"https://user:pw@live.example.org/s1#frag", "https://live.example.org/s1"},
		{"", ""},
		{"https://metadata.example.net/s1", ""},
		{"//169.254.169.254/latest/meta-data", ""},
		{"http://live.example.org/s1", ""},
		{"https://live.example.org:8443/s1", ""},
		{"https://live.example.org.evil.example/s1", ""},
		{"https://evil.example\\@live.example.org/s1", ""},
	} {
		got, err := sessionURL(ep, tc.loc)
		if tc.want == "" {
			if err == nil {
				t.Errorf("sessionURL(%q) = %q, want refused", tc.loc, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("sessionURL(%q) = %q, %v; want %q", tc.loc, got, err, tc.want)
		}
	}
}

// TestMediaCandidates: the answer's candidates on private addresses are dropped unless the
// destination may reach them (parsed only: nothing is dialled).
func TestMediaCandidates(t *testing.T) {
	const sdp = "v=0\r\n" +
		"a=candidate:1 1 udp 2130706431 8.8.8.8 8189 typ host\r\n" +
		"a=candidate:2 1 udp 2130706431 127.0.0.1 8189 typ host\r\n" +
		"a=candidate:3 1 udp 2130706431 169.254.169.254 8189 typ host\r\n" +
		"a=candidate:4 1 udp 2130706431 1f0e4c1a-7d4b.local 8189 typ host\r\n" +
		"a=candidate:5 1 tcp 1671430143 10.1.2.3 8189 typ host tcptype passive\r\n" +
		"a=candidate:6 1 udp 2130706431 ::ffff:192.168.1.1 8189 typ host\r\n" +
		"a=candidate:7 1 udp 2130706431 224.0.0.1 8189 typ host\r\n" +
		"a=end-of-candidates\r\n"
	for _, tc := range []struct {
		allow bool
		kept  []string
	}{
		{false, []string{"8.8.8.8"}},
		{true, []string{"8.8.8.8", "127.0.0.1", "169.254.169.254", ".local", "10.1.2.3", "192.168.1.1"}},
	} {
		p := &Pusher{guard: netguard.Guard{AllowPrivate: tc.allow}}
		got, err := p.mediaCandidates(sdp)
		if err != nil {
			t.Fatalf("allow=%v: %v", tc.allow, err)
		}
		if n := strings.Count(got, "a=candidate:"); n != len(tc.kept) {
			t.Errorf("allow=%v: kept %d candidates, want %d:\n%s", tc.allow, n, len(tc.kept), got)
		}
		for _, k := range tc.kept {
			if !strings.Contains(got, k) {
				t.Errorf("allow=%v: %s dropped", tc.allow, k)
			}
		}
		if strings.Contains(got, "224.0.0.1") || !strings.HasPrefix(got, "v=0\r\n") || !strings.HasSuffix(got, "a=end-of-candidates\r\n") {
			t.Errorf("allow=%v: answer\n%s", tc.allow, got)
		}
	}
	p := &Pusher{}
	if _, err := p.mediaCandidates("v=0\r\na=candidate:2 1 udp 2130706431 127.0.0.1 8189 typ host\r\n"); !errors.Is(err, netguard.ErrRefused) {
		t.Errorf("an answer with only private candidates = %v, want refused", err)
	}
}
