package web_test

import (
	"net/http/httptest"
	"testing"

	"github.com/beffroi/beffroi/outputs/record"
	"github.com/beffroi/beffroi/web"
)

// fakeRecorder is recording "conseil" only.
type fakeRecorder struct{}

func (fakeRecorder) Status(stream string) record.Status {
	if stream == "conseil" {
		return record.Status{State: "recording", Recording: "conseil-20261127T142301Z"}
	}
	return record.Status{State: "idle"}
}

// TestStreamRecordingStatus: the stream's "recording" is whatever the recorder (Status.Recording)
// returns for it, and absent without a recorder.
func TestStreamRecordingStatus(t *testing.T) {
	type status struct {
		State       string `json:"state"`
		RecordingID string `json:"recording_id"`
	}
	srv := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t), Status: web.Status{Recording: fakeRecorder{}}}).Handler())
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

	bare := httptest.NewServer(web.New(web.Options{Registry: newRegistry(t)}).Handler())
	defer bare.Close()
	var v map[string]any
	decode(t, get(t, bare, "/api/v1/streams/conseil"), &v)
	if _, ok := v["recording"]; ok {
		t.Errorf("recording shown without a recorder: %v", v["recording"])
	}
}
