package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/outputs"
)

// TestPrivateDestinationRefused: with the default outputs.allow_private_networks (off), a
// destination to nginx on 127.0.0.1 goes to "retrying" with the clear error, and nothing
// reaches nginx; an operator cannot opt a destination in; one an admin adds with
// allow_private goes live.
func TestPrivateDestinationRefused(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	n := startNginx(t)
	// startNginx's readiness probe is the one connection nginx has seen before Beffroi starts.
	testutil.Eventually(t, 5*time.Second, func() error {
		if c := n.Count("client connected"); c != 1 {
			return fmt.Errorf("nginx logged %d connections, want the readiness probe's", c)
		}
		return nil
	})
	const key = "nginx-private-key-4b1e"
	b := startBeffroi(t, func(c *config.Config) {
		c.Outputs.AllowPrivateNetworks = false // the default
		c.Streams[0].Destinations = []config.Destination{{Name: "inside", URL: n.URL(key)}}
	})
	publish(t, t.Context(), b.PublishURL(publishKey), clip, 60)
	waitStream(t, b, "event", "live", 15*time.Second)

	var st outputs.Status
	testutil.Eventually(t, 15*time.Second, func() error {
		st, _ = destStatus(b, "event", "inside")
		if st.State != outputs.StateRetrying || st.Reconnects < 2 {
			return fmt.Errorf("destination %s (%d attempts): %q", st.State, st.Reconnects, st.LastError)
		}
		return nil
	})
	t.Logf("refused: %s", st.LastError)
	for _, want := range []string{"127.0.0.1 is on a private network (loopback)", "allow_private"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last_error %q does not say %q", st.LastError, want)
		}
	}
	testutil.AssertNoSecret(t, "last_error", st.LastError, key)
	if recs := n.Recordings(); len(recs) != 0 || n.Count("client connected") != 1 {
		t.Fatalf("nginx saw a connection from Beffroi: %d connections (1 is the probe), recordings %v", n.Count("client connected"), recs)
	}
	if lines := b.Logs.Lines("destination failed", "inside"); len(lines) == 0 || !strings.Contains(lines[0], "private network") {
		t.Errorf("no clear log line of the refusal: %q", lines)
	}

	// An operator may not opt a destination in.
	api := func(token, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+b.HTTPAddr()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return res.StatusCode, string(b)
	}
	const password = "operator-password-0123"
	if code, body := api(adminToken, "POST", "/api/v1/users", `{"name":"regie","role":"operator","password":"`+password+`"}`); code != http.StatusCreated {
		t.Fatalf("create an operator: %d %s", code, body)
	}
	op := newOperator(t, b)
	op.login("regie", password)
	add := fmt.Sprintf(`{"name":"allowed","url":%q,"allow_private":true}`, n.URL(key))
	if code, _, body := op.do("POST", "/api/v1/streams/event/destinations", add, true); code != http.StatusForbidden {
		t.Fatalf("an operator adds a destination with allow_private: %d %s", code, body)
	}
	if _, ok := destStatus(b, "event", "allowed"); ok {
		t.Fatal("the operator's destination was added")
	}

	// An admin may: it goes live and nginx records one session, while "inside" stays refused.
	if code, body := api(adminToken, "POST", "/api/v1/streams/event/destinations", add); code != http.StatusCreated || !strings.Contains(strings.ReplaceAll(body, " ", ""), `"allow_private":true`) {
		t.Fatalf("an admin adds a destination with allow_private: %d %s", code, body)
	}
	waitDest(t, b, "event", "allowed", outputs.StateLive, 15*time.Second)
	testutil.Eventually(t, 15*time.Second, func() error {
		if recs := n.Recordings(); len(recs) != 1 || fileSize(recs[0]) < 100_000 {
			return fmt.Errorf("nginx recordings: %v", recs)
		}
		return nil
	})
	if st, _ := destStatus(b, "event", "inside"); st.State != outputs.StateRetrying {
		t.Errorf("the destination without the opt-in: %+v", st)
	}
	if c := n.Count("client connected"); c != 2 {
		t.Errorf("nginx saw %d connections, want 2 (the probe's, the allowed destination's)", c)
	}
	testutil.AssertNoSecret(t, "the log", b.Logs.String(), key, password)
}
