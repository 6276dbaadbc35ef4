// Package whip pushes a stream to a WHIP endpoint (RFC 9725): a platform that ingests
// WebRTC, or another Beffroi, as a destination kind beside RTMP(S) and SRT. The HTTP side
// never follows a redirect, keeps the session on the endpoint's origin and reports the
// endpoint's status, never its body; every address (HTTP and the answer's ICE candidates)
// passes the destination's netguard check.
package whip
