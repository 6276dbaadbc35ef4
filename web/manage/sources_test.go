package manage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
	"github.com/beffroi/beffroi/relay/relaytest"
)

// TestSourcesAPI: the sources route shows each source and the one on air without a key; the
// switch puts the phone on air by hand (answering once it is), then back to automatic.
func TestSourcesAPI(t *testing.T) {
	f := newBroadcastFixture(t)
	const path = "/api/v1/streams/conseil/sources"
	if err := f.reg.SetSources("conseil", relay.SourcesOptions{
		Primary: "camera", Backups: []relay.SourceSpec{{Name: "phone", PublishKey: "pk-phone-0123"}},
		FailbackAfter: 200 * time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.do(t, "POST", path+"/switch", "application/json", []byte(`{"source":"phone"}`)); code != http.StatusConflict {
		t.Errorf("switch on an idle stream: %d %s, want 409", code, body)
	}
	camera := relaytest.Publish(t, f.st, relaytest.Options{})
	camera.Start()
	phone := relaytest.Publish(t, f.st, relaytest.Options{SourceName: "phone", GOP: 10})
	phone.Start()

	get := func() (v struct {
		OnAir   string               `json:"on_air"`
		Manual  string               `json:"manual"`
		Sources []relay.SourceStatus `json:"sources"`
		Periods []relay.OnAirPeriod  `json:"periods"`
	}) {
		t.Helper()
		code, body := f.do(t, "GET", path, "", nil)
		if code != http.StatusOK || strings.Contains(body, "pk-") {
			t.Fatalf("GET sources: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if v := get(); v.OnAir != "camera" || len(v.Sources) != 2 || v.Sources[1].State != "standby" {
			return fmt.Errorf("sources %+v, want the camera on air and the phone standing by", v)
		}
		return nil
	})
	for body, want := range map[string]int{`{}`: http.StatusBadRequest, `{"source":"drone"}`: http.StatusNotFound} {
		if code, got := f.do(t, "POST", path+"/switch", "application/json", []byte(body)); code != want {
			t.Errorf("switch %s: %d %s, want %d", body, code, got, want)
		}
	}
	code, body := f.do(t, "POST", path+"/switch", "application/json", []byte(`{"source":"phone"}`))
	if code != http.StatusOK || !strings.Contains(body, `"on_air": "phone"`) || !strings.Contains(body, `"manual": "phone"`) {
		t.Fatalf("switch to the phone: %d %s", code, body)
	}
	if code, body := f.do(t, "POST", path+"/switch", "application/json", []byte(`{"source":""}`)); code != http.StatusOK || !strings.Contains(body, `"manual": ""`) {
		t.Fatalf("back to automatic: %d %s", code, body)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if v := get(); v.OnAir != "camera" || len(v.Periods) != 3 {
			return fmt.Errorf("on air %q, periods %+v: want back to the camera", v.OnAir, v.Periods)
		}
		return nil
	})
}
