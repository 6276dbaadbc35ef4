package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
)

// waitClosedByServer reads c until the server closes it, and fails the test when it is still
// open after within (the server never cut it). Whatever the server answered first is returned.
func waitClosedByServer(t *testing.T, c net.Conn, within time.Duration, what string) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection was still open after %s (read %q)", what, within, got)
	}
	return string(got) // EOF or a reset: the server closed it
}

// TestHTTPSlowBodyAndIdleConnection: a slowloris (headers at once, then the body of an
// anonymous login one byte at a time) is cut by the server within http.body_timeout, and a
// keep-alive connection left idle is closed after http.idle_timeout.
func TestHTTPSlowBodyAndIdleConnection(t *testing.T) {
	b := startBeffroi(t, func(c *config.Config) {
		c.HTTP.BodyTimeout = time.Second
		c.HTTP.IdleTimeout = time.Second
	})
	addr := b.HTTPAddr()

	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// 2,000 bytes at one per 50 ms would take 100 s.
		body := `{"name":"admin","password":"` + strings.Repeat("x", 2000-30) + `"}`
		fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
		stop := make(chan struct{})
		trickled := make(chan int, 1)
		go func() {
			n := 0
			defer func() { trickled <- n }()
			for ; n < len(body); n++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte{body[n]}); err != nil {
					return
				}
			}
		}()
		got := waitClosedByServer(t, c, 20*time.Second, "a login body sent one byte per 50 ms")
		close(stop)
		n := <-trickled
		if n >= len(body) {
			t.Fatalf("the whole body was sent (%d bytes) before the server closed the connection", n)
		}
		t.Logf("cut after %d of %d body bytes; the server said %q", n, len(body), firstLine(got))
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("GET /healthz: %s (close %v), want 200 on a kept-alive connection", resp.Status, resp.Close)
		}
		// Nothing more is sent: the server must close the connection by itself.
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		extra, err := io.ReadAll(br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("an idle keep-alive connection was still open after 20 s (http.idle_timeout 1s)")
		}
		if len(extra) > 0 {
			t.Errorf("the server sent %q on an idle connection", extra)
		}
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestHTTPLongRequestsOutliveBodyTimeout: requests without a body are not cut by
// http.body_timeout: the events websocket and an LL-HLS blocking playlist reload both go on
// for several times its length.
func TestHTTPLongRequestsOutliveBodyTimeout(t *testing.T) {
	requirePeers(t)
	const bodyTimeout = 500 * time.Millisecond
	clip := makeSmallClip(t)
	b := startBeffroi(t, func(c *config.Config) { c.HTTP.BodyTimeout = bodyTimeout })
	publish(t, t.Context(), b.PublishURL(publishKey), clip, 60)
	waitStream(t, b, "event", "live", 15*time.Second)

	t.Run("websocket", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + adminToken}}
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+b.HTTPAddr()+"/api/v1/events", h)
		if err != nil {
			t.Fatalf("events websocket: %v (%v)", err, resp)
		}
		defer ws.Close()
		start, n := time.Now(), 0
		for time.Since(start) < 6*bodyTimeout { // stats come every second
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("events websocket failed after %d messages: %v", n, err)
			}
			var m struct{ Type string }
			if json.Unmarshal(msg, &m) != nil || m.Type == "" {
				t.Fatalf("events websocket sent %q", msg)
			}
			n++
		}
		t.Logf("%d messages on the websocket, open across %d body timeouts", n, 6)
	})

	t.Run("LL-HLS blocking reload", func(t *testing.T) {
		base := "http://" + b.HTTPAddr() + "/hls/event/"
		var pl string
		testutil.Eventually(t, 15*time.Second, func() error {
			resp, body, err := fetch(base + "video1_stream.m3u8")
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, "#EXTINF") {
				return fmt.Errorf("media playlist not ready: %w %q", err, body)
			}
			pl = body
			return nil
		})
		// The segment after the one being made: a reload that blocks for one or two
		// segments (the clip has a keyframe every 2 s).
		msn := mediaSequence(pl) + strings.Count(pl, "#EXTINF") + 1
		start := time.Now()
		resp, body, err := fetch(base + "video1_stream.m3u8?_HLS_msn=" + strconv.Itoa(msn))
		held := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("blocking reload for segment %d after %s: %v %v %q", msn, held, err, resp, body)
		}
		if held < 2*bodyTimeout {
			t.Fatalf("precondition: the reload was held only %s, too short to show anything", held)
		}
		if got := mediaSequence(body) + strings.Count(body, "#EXTINF"); got <= msn-1 {
			t.Errorf("the reload answered without segment %d:\n%s", msn, body)
		}
		t.Logf("blocking reload held %s (body timeout %s) and answered with segment %d", held.Round(10*time.Millisecond), bodyTimeout, msn)
	})
}

// fetch GETs url with a client that waits long enough for a blocking reload, on a
// connection of its own: a client retries a request whose reused connection broke, which
// would hide a server cutting the reload.
func fetch(url string) (*http.Response, string, error) {
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestHTTPConnectionCap: with http.max_connections held open, a further connection is not
// served until one of them closes, then it is.
func TestHTTPConnectionCap(t *testing.T) {
	const maxConns = 16 // the least the configuration accepts
	b := startBeffroi(t, func(c *config.Config) { c.HTTP.MaxConnections = maxConns })
	addr := b.HTTPAddr()
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	// Each of the maxConns connections makes one request (so it has surely been accepted) and
	// stays open (keep-alive, idle_timeout 2m).
	for i := range maxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, maxConns, err)
		}
		resp.Body.Close()
	}
	extra, err := net.Dial("tcp", addr) // the kernel completes the handshake; Beffroi does not accept
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprintf(extra, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	br := bufio.NewReader(extra)
	_ = extra.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil {
		t.Fatalf("connection %d was served while %d were open (http.max_connections %d)", maxConns+1, maxConns, maxConns)
	} else if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connection %d: %v, want it left waiting", maxConns+1, err)
	}
	held[0].Close()
	_ = extra.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("connection %d was not served once one closed: %v", maxConns+1, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("connection %d: %s", maxConns+1, resp.Status)
	}
}

// TestHTTPClientAddressBehindProxy: behind a proxy listed in http.trusted_proxies the audit
// log names the client of X-Forwarded-For; without it, the header is ignored and the peer
// is named.
func TestHTTPClientAddressBehindProxy(t *testing.T) {
	const client = "203.0.113.7" // documentation range: a string in a header, never dialled
	for _, tt := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"trusted proxy", []string{"127.0.0.1"}, client},
		{"no trusted proxy", nil, "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := startBeffroi(t, func(c *config.Config) { c.HTTP.TrustedProxies = tt.trusted })
			req, _ := http.NewRequest(http.MethodPost, "http://"+b.HTTPAddr()+"/api/v1/streams", strings.NewReader(`{"name":"proxied"}`))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "198.51.100.1, "+client)
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("create stream: %s %s", resp.Status, body)
			}
			out, err := b.get("/api/v1/audit?limit=20")
			if err != nil {
				t.Fatal(err)
			}
			var audit struct {
				Audit []struct{ Action, Target, Remote string }
			}
			if err := json.Unmarshal([]byte(out), &audit); err != nil {
				t.Fatalf("audit %q: %v", out, err)
			}
			for _, e := range audit.Audit {
				if e.Target == "proxied" {
					if e.Remote != tt.want {
						t.Fatalf("audit entry %+v: remote %q, want %q", e, e.Remote, tt.want)
					}
					return
				}
			}
			t.Fatalf("no audit entry for the stream made: %s", out)
		})
	}
}

// TestHTTPMetricsToken: with metrics.token set, /metrics answers 401 without the bearer
// token or with a wrong one, 200 with it; without a token it is open.
func TestHTTPMetricsToken(t *testing.T) {
	const token = "metrics-token-0123456789abc"
	b := startBeffroi(t, func(c *config.Config) { c.Metrics.Token = token })
	open := startBeffroi(t, nil)
	get := func(addr, auth string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(body), token) {
			t.Errorf("/metrics shows the token")
		}
		return resp.StatusCode
	}
	for _, tt := range []struct {
		name, addr, auth string
		want             int
	}{
		{"no token sent", b.HTTPAddr(), "", http.StatusUnauthorized},
		{"wrong token", b.HTTPAddr(), "Bearer metrics-token-0123456789abd", http.StatusUnauthorized},
		{"the admin's API token", b.HTTPAddr(), "Bearer " + adminToken, http.StatusUnauthorized},
		{"the token", b.HTTPAddr(), "Bearer " + token, http.StatusOK},
		{"open without metrics.token", open.HTTPAddr(), "", http.StatusOK},
	} {
		if got := get(tt.addr, tt.auth); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if strings.Contains(b.Logs.String(), token) {
		t.Error("the metrics token reached the log")
	}
}
