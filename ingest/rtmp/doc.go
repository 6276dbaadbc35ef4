// Package rtmp is Beffroi's RTMP and RTMPS listener: encoders (OBS, Larix, ffmpeg, hardware
// encoders) publish to rtmp://host/live/<publishKey>; when reading is enabled, monitoring
// players read rtmp://host/live/<stream>.
package rtmp
