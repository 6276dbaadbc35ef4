// Package httpjson is how Beffroi's HTTP API reads and writes JSON: bounded bodies, unknown
// fields refused (a typo is an error, not a silent no-op), errors as {"error": "..."} with a
// message a person can act on, not cached unless a handler says otherwise.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// Read decodes the request's JSON body into v; on failure it answers 400 and returns false.
func Read(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Error(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// Write answers v as JSON with the status code, not cached unless the handler set its own
// Cache-Control (a public feed).
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error answers {"error": msg} with the status code.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}
