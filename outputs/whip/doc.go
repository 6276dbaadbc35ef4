// Package whip pushes a stream to a WHIP endpoint (RFC 9725): a platform that ingests
// WebRTC, or another Beffroi, as a destination kind beside RTMP(S) and SRT.
package whip
