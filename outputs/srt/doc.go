// Package srt pushes a stream to an SRT ingest (a platform, a hardware decoder, another relay)
// as MPEG-TS, calling the far end in SRT caller mode with gosrt.
package srt
