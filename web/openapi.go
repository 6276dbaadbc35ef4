package web

import (
	"embed"
	"net/http"
)

// openAPI holds openapi.json, which describes the API. TestOpenAPIMatchesHandlers keeps it
// true: every route it lists is served, and every /api/v1 route the code registers is in it.
//
//go:embed openapi.json
var openAPI embed.FS

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	doc, err := openAPI.ReadFile("openapi.json")
	if err != nil { // embedded: cannot happen
		writeError(w, http.StatusInternalServerError, "openapi.json: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(doc)
}
