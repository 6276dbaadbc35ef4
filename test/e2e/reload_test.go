package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
)

// destinationStates returns the state of each destination of a stream of a Beffroi
// process, by name ("" when the stream is not there).
func destinationStates(p *beffroiProcess, stream string) (map[string]string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.httpAddr+"/api/v1/streams/"+stream, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var s struct {
		Destinations []struct{ Name, State string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, d := range s.Destinations {
		m[d.Name] = d.State
	}
	return m, nil
}

// TestReloadKeepsLiveDestinations: while the stream is live and pushed to two platforms,
// the file is changed (one destination removed, one added, one kept, a stream added) and
// Beffroi gets SIGHUP: the changes take effect and the kept platform sees one session
// throughout. An invalid file (SIGHUP, then POST /api/v1/reload) changes nothing and names
// the key.
func TestReloadKeepsLiveDestinations(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeClip(t)
	keep, gone, added := startNginx(t), startNginx(t), startNginx(t)
	data := t.TempDir()
	streams := func(dests ...string) string {
		s := fmt.Sprintf("streams:\n  - name: event\n    publish_key: %s\n    destinations:\n", publishKey)
		for _, d := range dests {
			s += d
		}
		return s
	}
	// The platforms are on loopback: each destination is let through by its own allow_private
	// (as the town's own servers would be), which a reload must keep too.
	dest := func(name, url string) string {
		return fmt.Sprintf("      - {name: %s, url: %q, allow_private: true}\n", name, url)
	}
	const keepKey, goneKey, addedKey = "key-keep-41a2", "key-gone-93b0", "key-added-5c7e"
	p := startBeffroiProcessWith(t, "beffroi", data, processConfig(data,
		streams(dest("keep", keep.URL(keepKey)), dest("gone", gone.URL(goneKey)))))
	conf := filepath.Join(data, "beffroi.yaml")
	ff := publish(t, t.Context(), "rtmp://"+p.rtmpAddr+"/live/"+publishKey, clip, 30)
	testutil.Eventually(t, 20*time.Second, func() error {
		m, err := destinationStates(p, "event")
		if err != nil || m["keep"] != "live" || m["gone"] != "live" {
			return fmt.Errorf("destinations %v, %w", m, err)
		}
		return nil
	})

	// A changed file: "gone" removed, "added" added, "keep" untouched, a stream "second".
	next := processConfig(data, streams(dest("keep", keep.URL(keepKey)), dest("added", added.URL(addedKey)))+
		"  - name: second\n    publish_key: second-publish-key-7d1e\n")
	if err := os.WriteFile(conf, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		m, err := destinationStates(p, "event")
		if err != nil || len(m) != 2 || m["keep"] != "live" || m["added"] != "live" {
			return fmt.Errorf("destinations after the reload %v, %w", m, err)
		}
		if s, err := destinationStates(p, "second"); err != nil || s == nil {
			return fmt.Errorf("the stream added by the reload is not there (%w)", err)
		}
		return nil
	})

	// An invalid file changes nothing and names the key, on SIGHUP and through the API.
	bad := strings.Replace(next, "reconnect_grace: 10s", "reconnect_grace: -5s", 1)
	bad = strings.Replace(bad, dest("keep", keep.URL(keepKey)), "", 1)
	if err := os.WriteFile(conf, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for l := range strings.Lines(p.stderr.String()) {
			if strings.Contains(l, "reload refused") && strings.Contains(l, "reconnect_grace") {
				return nil
			}
		}
		return fmt.Errorf("no log line refusing the reload and naming reconnect_grace")
	})
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.httpAddr+"/api/v1/reload", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "reconnect_grace") {
		t.Errorf("POST /api/v1/reload with an invalid file: %d %s", resp.StatusCode, body)
	}
	if m, err := destinationStates(p, "event"); err != nil || m["keep"] != "live" || m["added"] != "live" {
		t.Errorf("destinations after a refused reload: %v, %v", m, err)
	}

	if err := ff.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Errorf("beffroi: %v", err)
	}
	for _, c := range []struct {
		name string
		n    *nginx
	}{{"keep", keep}, {"gone", gone}, {"added", added}} {
		c.n.WaitClosed(t, 1)
		// Counted in nginx's log: two sessions within one second would share one FLV file.
		if n := c.n.Count(" publish: "); n != 1 || len(c.n.Recordings()) != 1 {
			t.Errorf("platform %q: %d publish sessions (files %v), want 1", c.name, n, c.n.Recordings())
		}
	}
	if log := p.stderr.String(); slices.ContainsFunc([]string{publishKey, keepKey, goneKey, addedKey}, func(k string) bool {
		return strings.Contains(log, k)
	}) {
		t.Errorf("a key reached the log")
	}
}
