// Package standby puts a standby picture into a stream while its source is away (the
// reconnect grace) or the operator paused the broadcast: the built-in slate with the stream's
// name and "Nous revenons dans un instant / Back in a moment", or an uploaded image, with
// silence. It is encoded once per stream and parameters by ffmpeg (libx264 and AAC or Opus,
// at the source's last resolution, frame rate, sample rate and channels, one keyframe a
// second) as a one-second loop, then replayed on the wall clock through relay.Stream.StandIn
// with new timestamps: a standby costs one short encoding, not a running encoder.
package standby
