// Package web is Beffroi's one HTTP server: the REST API under /api/v1 (streams and their
// destinations as the operator sees them, presets, audience and event reports, live updates
// on a websocket), /healthz and the Prometheus /metrics, and the mount points of the other
// web parts (accounts, stream management, recordings and replays, the console, the go-live
// and watch pages, WHIP, WHEP and HLS). New builds it from Options in one call.
package web
