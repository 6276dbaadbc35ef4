// Package mp4 turns a recording (fragmented MP4 segments and their VOD HLS playlist, as
// outputs/record writes them) into one progressive MP4 with its moov first, the file a
// browser downloads, plays and seeks with HTTP Range requests.
//
// It streams: a first pass over the segments keeps only the sample tables (size, duration,
// keyframe flag and composition offset of every sample), then the moov is written, then the
// media data is copied segment by segment. Memory grows with the number of samples (a few
// tens of bytes each at the peak: under 30 MB of heap for a two-hour event, see
// bench/README.md), never with the media bytes.
//
// A recording whose codec parameters changed (a new init segment after an
// EXT-X-DISCONTINUITY, e.g. a phone that rotated or ramped up its resolution) becomes one
// file: each track's stsd holds one sample entry per init segment and stsc points every chunk
// at its own entry, as ISO/IEC 14496-12 allows, which FFmpeg-based players (VLC, ffprobe)
// and Safari follow. For players that keep the first entry's parameters, every H.264
// keyframe after a change also carries its SPS and PPS in-band (a few dozen bytes each). H.265 and
// audio parameter changes get the sample entries only. Known limit: Chromium's progressive
// MP4 player still stalls at a change of resolution (its HLS players do not), so the replay
// pages play HLS and offer the MP4 for download.
package mp4
