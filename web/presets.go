package web

import (
	"net/http"
	"net/url"

	"github.com/beffroi/beffroi/outputs"
	"github.com/beffroi/beffroi/relay"
)

// destinationJSON is a destination as the API shows it: its status, the platform it points
// at when Beffroi knows it, and how the live source fails that platform's requirements.
type destinationJSON struct {
	outputs.Status
	Platform string   `json:"platform,omitempty"` // preset id: "youtube", "facebook", ...
	Warnings []string `json:"warnings,omitempty"`
	Managed  bool     `json:"managed,omitempty"` // declared in the configuration file
}

// destinations wraps the statuses with the platform each points at and its warnings.
func (s *Server) destinations(list []outputs.Status, tracks []relay.TrackInfo) []destinationJSON {
	out := make([]destinationJSON, 0, len(list))
	for _, st := range list {
		d := destinationJSON{Status: st}
		if p := s.o.Presets.Match(&url.URL{Host: st.Host}); p != nil {
			d.Platform = p.ID
			d.Warnings = p.Requires.Check(tracks)
		}
		out = append(out, d)
	}
	return out
}

// listPresets serves GET /api/v1/presets: the platforms a destination can be made from.
func (s *Server) listPresets(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"presets": s.o.Presets.List()})
}
