package web_test

import (
	"net/http/httptest"
	"testing"

	"github.com/beffroi/beffroi/web"
)

// TestStreamRecordingStatus: the stream's "recording" is whatever Server.Recording returns for
// it, and absent without a recorder.
func TestStreamRecordingStatus(t *testing.T) {
	type status struct {
		State       string `json:"state"`
		RecordingID string `json:"recording_id"`
	}
	rec := func(stream string) any {
		if stream == "conseil" {
			return status{State: "recording", RecordingID: "conseil-20261127T142301Z"}
		}
		return status{State: "idle"}
	}
	srv := httptest.NewServer((&web.Server{Registry: newRegistry(t), Recording: rec}).Handler())
	defer srv.Close()
	for stream, want := range map[string]status{
		"conseil":  {State: "recording", RecordingID: "conseil-20261127T142301Z"},
		"annonces": {State: "idle"},
	} {
		var v struct{ Recording *status }
		decode(t, get(t, srv, "/api/v1/streams/"+stream), &v)
		if v.Recording == nil || *v.Recording != want {
			t.Errorf("%s: recording %+v, want %+v", stream, v.Recording, want)
		}
	}

	bare := httptest.NewServer((&web.Server{Registry: newRegistry(t)}).Handler())
	defer bare.Close()
	var v map[string]any
	decode(t, get(t, bare, "/api/v1/streams/conseil"), &v)
	if _, ok := v["recording"]; ok {
		t.Errorf("recording shown without a recorder: %v", v["recording"])
	}
}
