package manage

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders of the standby images
	_ "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/beffroi/beffroi/internal/httpjson"
	"github.com/beffroi/beffroi/relay"
)

// Limits of an uploaded standby image.
const (
	MaxStandbyImageBytes = 8 << 20
	MaxStandbyImageSide  = 4096
)

// broadcastRoutes serves the operator's broadcast actions:
//
//	POST   /api/v1/streams/{name}/standby        {"on": bool}: pause the broadcast (standby picture) or resume
//	POST   /api/v1/streams/{name}/end            end the live session now, without the grace
//	PUT    /api/v1/streams/{name}/standby-image  a PNG or JPEG (body) shown instead of the built-in slate
//	DELETE /api/v1/streams/{name}/standby-image  back to the built-in slate
func (h *Handler) broadcastRoutes(mux *http.ServeMux, p func(http.Handler) http.Handler) {
	mux.Handle("POST /api/v1/streams/{name}/standby", p(http.HandlerFunc(h.setStandby)))
	mux.Handle("POST /api/v1/streams/{name}/end", p(http.HandlerFunc(h.endNow)))
	mux.Handle("PUT /api/v1/streams/{name}/standby-image", p(http.HandlerFunc(h.putStandbyImage)))
	mux.Handle("DELETE /api/v1/streams/{name}/standby-image", p(http.HandlerFunc(h.deleteStandbyImage)))
}

type broadcastState struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Paused  bool   `json:"paused"`
	Standby bool   `json:"standby"`
}

func stateOf(st *relay.Stream) broadcastState {
	in := st.Info()
	return broadcastState{Name: in.Name, State: in.State.String(), Paused: in.Paused, Standby: in.Standby}
}

func (h *Handler) setStandby(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	var in struct {
		On *bool `json:"on"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.On == nil {
		httpjson.Error(w, http.StatusBadRequest, `give "on": true (pause the broadcast) or false (resume)`)
		return
	}
	switch err := st.SetPaused(*in.On); {
	case errors.Is(err, relay.ErrNotLive):
		httpjson.Error(w, http.StatusConflict, "stream "+st.Name()+" is not live")
		return
	case errors.Is(err, relay.ErrNoMedia):
		httpjson.Error(w, http.StatusConflict, "stream "+st.Name()+" has no media yet: try again in a second")
		return
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	action := "stream.resume"
	if *in.On {
		action = "stream.pause"
	}
	h.audit(r, action, st.Name(), "")
	httpjson.Write(w, http.StatusOK, stateOf(st))
}

// endNow ends the live session at once: the publisher is disconnected, every destination
// closes its platform session cleanly, viewers and the recording end. A publisher that
// connects again starts a new session.
func (h *Handler) endNow(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	if s, _ := st.State(); s == relay.Idle {
		httpjson.Error(w, http.StatusConflict, "stream "+st.Name()+" is not live")
		return
	}
	st.Stop()
	h.audit(r, "stream.end", st.Name(), "")
	httpjson.Write(w, http.StatusOK, stateOf(st))
}

// StandbyImage returns the path of a stream's uploaded standby image in dir, or "".
func StandbyImage(dir, stream string) string {
	if dir == "" || !safeName(stream) {
		return ""
	}
	for _, ext := range []string{".png", ".jpg"} {
		p := filepath.Join(dir, stream+ext)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && filepath.Base(s) == s
}

// checkImage decodes an uploaded image whole and returns its file extension.
func checkImage(b []byte) (string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "", errors.New("not a PNG or JPEG image")
	}
	if format != "png" && format != "jpeg" {
		return "", fmt.Errorf("%s images are not accepted: give a PNG or JPEG", format)
	}
	if cfg.Width < 16 || cfg.Height < 16 || cfg.Width > MaxStandbyImageSide || cfg.Height > MaxStandbyImageSide {
		return "", fmt.Errorf("image is %dx%d: from 16x16 to %dx%d", cfg.Width, cfg.Height, MaxStandbyImageSide, MaxStandbyImageSide)
	}
	if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
		return "", fmt.Errorf("the %s image does not decode: %w", format, err)
	}
	if format == "jpeg" {
		return ".jpg", nil
	}
	return ".png", nil
}

func (h *Handler) putStandbyImage(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	if h.StandbyDir == "" || !safeName(st.Name()) {
		httpjson.Error(w, http.StatusConflict, "standby images are not available on this server")
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxStandbyImageBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("image larger than %d MiB", MaxStandbyImageBytes>>20))
		return
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, "reading the image: "+err.Error())
		return
	}
	ext, err := checkImage(b)
	if err != nil {
		if h.Log != nil {
			h.Log.Info("standby image refused", "stream", st.Name(), "reason", err.Error())
		}
		httpjson.Error(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	if err := os.MkdirAll(h.StandbyDir, 0o750); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot keep the image: "+err.Error())
		return
	}
	tmp, err := os.CreateTemp(h.StandbyDir, ".upload-*")
	if err == nil {
		_, err = tmp.Write(b)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			removeStandbyImages(h.StandbyDir, st.Name())
			err = os.Rename(tmp.Name(), filepath.Join(h.StandbyDir, st.Name()+ext))
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "cannot keep the image: "+err.Error())
		return
	}
	h.audit(r, "stream.standby_image", st.Name(), fmt.Sprintf("%s, %d bytes", strings.TrimPrefix(ext, "."), len(b)))
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) deleteStandbyImage(w http.ResponseWriter, r *http.Request) {
	st := h.stream(w, r)
	if st == nil {
		return
	}
	if StandbyImage(h.StandbyDir, st.Name()) == "" {
		httpjson.Error(w, http.StatusNotFound, "stream "+st.Name()+" has no standby image")
		return
	}
	removeStandbyImages(h.StandbyDir, st.Name())
	h.audit(r, "stream.standby_image_delete", st.Name(), "")
	w.WriteHeader(http.StatusNoContent)
}

func removeStandbyImages(dir, stream string) {
	for _, ext := range []string{".png", ".jpg"} {
		_ = os.Remove(filepath.Join(dir, stream+ext))
	}
}
