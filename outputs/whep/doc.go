// Package whep plays streams to viewers over WebRTC (WHEP: POST an SDP offer to
// /whep/{stream}, get the answer, DELETE the session's location to stop). It shares the one
// UDP port of internal/rtcnet with WHIP ingest, sends H.264 or VP8 video and Opus audio (an
// AAC source gets an Opus rendition from relay/transcode) and packetises each frame into RTP
// once, whatever the number of viewers.
package whep
