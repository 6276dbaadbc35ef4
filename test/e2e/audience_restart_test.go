package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay/audience"
	"github.com/beffroi/beffroi/web/store"
)

// eventReport is the part of GET /api/v1/streams/{name}/report this test reads.
type eventReport struct {
	Event    string     `json:"event"`
	Live     bool       `json:"live"`
	Start    *time.Time `json:"start"`
	End      *time.Time `json:"end"`
	Distinct int        `json:"distinct"`
	Peak     struct {
		Total int        `json:"total"`
		At    *time.Time `json:"at"`
	} `json:"peak"`
	WatchTime float64           `json:"watch_time"`
	Series    []audience.Sample `json:"series"`
}

func processReport(p *beffroiProcess, stream string) (eventReport, error) {
	var rep eventReport
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.httpAddr+"/api/v1/streams/"+stream+"/report", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return rep, err
	}
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("report: %s: %s", resp.Status, body)
	}
	return rep, json.Unmarshal(body, &rep)
}

// pollingViewer plays a stream's HLS as a player whose media a cache serves: it takes a
// session token from the multivariant playlist, then reloads its media playlist every
// second until ctx ends (it counts from the second reload). It reports how many reloads got
// an answer.
func pollingViewer(ctx context.Context, origin, stream string) *atomic.Int64 {
	var ok atomic.Int64
	base := origin + "/hls/" + stream + "/"
	go func() {
		media := ""
		for ctx.Err() == nil {
			if media == "" {
				if body, err := fetchBody(ctx, base+"index.m3u8"); err == nil {
					for _, m := range uriRE.FindAllStringSubmatch(body, -1) {
						if u := m[1] + m[2]; strings.Contains(u, "session=") {
							media = u
							break
						}
					}
				}
			} else if _, err := fetchBody(ctx, base+media); err == nil {
				ok.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return &ok
}

func fetchBody(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// TestAudienceSurvivesKill9: three HLS viewers watch an event; once the database holds a
// few samples of them, Beffroi is killed (SIGKILL) and started again. Before the publisher
// is back, the report already holds the event as of the last write: the same event, its
// series points, peak and distinct viewers. The publisher back within the grace continues
// the event (its series grows, a new viewer adds one to the distinct count) and the
// platform gets the stream again by itself.
func TestAudienceSurvivesKill9(t *testing.T) {
	requirePeers(t)
	t.Parallel()
	clip := makeSmallClip(t)
	platform := startNginx(t)
	data := t.TempDir()
	conf := strings.Replace(processConfig(data, fmt.Sprintf(`streams:
  - name: event
    publish_key: %s
    destinations:
      - {name: platform, url: %q, allow_private: true}
`, publishKey, platform.URL("platform-key-4c1d"))), "reconnect_grace: 10s", "reconnect_grace: 30s", 1)
	first := startBeffroiProcessWith(t, "beffroi (to be killed)", data, conf)
	publish(t, t.Context(), "rtmp://"+first.rtmpAddr+"/live/"+publishKey, clip, 120)

	viewers, stopViewers := context.WithCancel(t.Context())
	defer stopViewers()
	for range 3 {
		pollingViewer(viewers, "http://"+first.httpAddr, "event")
	}
	// Wait until the database itself holds three samples with the three viewers: what a
	// kill -9 leaves.
	db, err := store.Open(t.Context(), filepath.Join(data, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var written audience.EventSnapshot
	testutil.Eventually(t, 60*time.Second, func() error {
		e, ok, err := db.LoadAudience(t.Context(), "event")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("no event in the database yet")
		}
		full := 0
		for _, p := range e.Series {
			if p.Total == 3 && p.HLS == 3 {
				full++
			}
		}
		if full < 3 || e.Peak.Total != 3 {
			return fmt.Errorf("the database holds %d samples with the 3 viewers, peak %d", full, e.Peak.Total)
		}
		written = e
		return nil
	})
	_ = db.Close()
	before, err := processReport(first, "event")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	stopViewers()
	t.Logf("killed: the report had %d samples, peak %d, distinct %d; the database %d samples as of %s",
		len(before.Series), before.Peak.Total, before.Distinct, len(written.Series), written.LiveAt.Format(time.RFC3339Nano))
	if before.Event == "" || before.Event != written.ID || before.Distinct != 3 || before.Peak.Total != 3 {
		t.Fatalf("report before the kill: %+v, database event %q", before, written.ID)
	}

	second := startBeffroiProcessWith(t, "beffroi (restarted)", data, conf)
	restored, err := processReport(second, "event")
	if err != nil {
		t.Fatal(err)
	}
	if restored.Event != before.Event || restored.Peak.Total != 3 || restored.Distinct != 3 || restored.Live || restored.End == nil ||
		restored.Start == nil || !restored.Start.Equal(before.Start.Truncate(time.Millisecond)) {
		t.Errorf("report after the restart: event %q live %v start %v end %v peak %d distinct %d; want event %q from %v, not live, peak 3, distinct 3",
			restored.Event, restored.Live, restored.Start, restored.End, restored.Peak.Total, restored.Distinct, before.Event, before.Start)
	}
	// Every point of the report before the kill up to the last write is still there.
	at := map[int64]audience.Sample{}
	for _, p := range restored.Series {
		at[p.At.UnixMilli()] = p
	}
	kept, lost := 0, 0
	for _, p := range before.Series {
		q, ok := at[p.At.UnixMilli()]
		switch {
		case ok && q.Total == p.Total && q.HLS == p.HLS:
			kept++
		case ok:
			t.Errorf("sample at %s: %+v after the restart, %+v before", p.At, q, p)
		case !p.At.After(written.LiveAt):
			t.Errorf("sample at %s (total %d) written before the kill is missing after the restart", p.At, p.Total)
		default:
			lost++ // after the last write
		}
	}
	if lost > 2 {
		t.Errorf("%d samples lost (after the last write), want at most 2 (one write every 5 s)", lost)
	}
	t.Logf("after the restart: %d samples kept, %d after the last write lost", kept, lost)

	// The publisher comes back within the grace: the same event goes on.
	publish(t, t.Context(), "rtmp://"+second.rtmpAddr+"/live/"+publishKey, clip, 120)
	testutil.Eventually(t, 30*time.Second, func() error {
		r, err := processReport(second, "event")
		if err != nil {
			return err
		}
		if !r.Live {
			return errors.New("the report says not live again")
		}
		if r.Event != before.Event {
			t.Fatalf("live again as event %q, want %q continued", r.Event, before.Event)
		}
		return nil
	})
	again, stopAgain := context.WithCancel(t.Context())
	defer stopAgain()
	pollingViewer(again, "http://"+second.httpAddr, "event")
	testutil.Eventually(t, 40*time.Second, func() error {
		r, err := processReport(second, "event")
		if err != nil {
			return err
		}
		if r.Distinct != 4 || r.Peak.Total != 3 || len(r.Series) <= len(restored.Series) || r.Series[len(r.Series)-1].Total != 1 {
			return fmt.Errorf("continued event: distinct %d peak %d, %d samples (last %+v); want 4, 3 and more than %d ending with the new viewer",
				r.Distinct, r.Peak.Total, len(r.Series), r.Series[len(r.Series)-1], len(restored.Series))
		}
		for i, p := range restored.Series {
			if q := r.Series[i]; !q.At.Equal(p.At) || q.Total != p.Total {
				t.Fatalf("sample %d changed after going live again: %+v, was %+v", i, q, p)
			}
		}
		return nil
	})
	testutil.Eventually(t, 30*time.Second, func() error {
		m, err := destinationStates(second, "event")
		if err != nil {
			return err
		}
		if m["platform"] != "live" {
			return fmt.Errorf("destinations after the restart: %v", m)
		}
		return nil
	})
	testutil.AssertNoSecret(t, "the log", first.stderr.String()+second.stderr.String(), publishKey, "platform-key-4c1d")
}
