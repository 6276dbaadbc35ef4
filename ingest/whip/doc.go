// Package whip accepts publishers over WHIP (WebRTC-HTTP Ingestion Protocol, RFC 9725): a
// phone browser POSTs an SDP offer with its publish key, and the H.264 (or VP8) video and
// Opus audio it then sends over one shared UDP port become relay frames.
package whip
