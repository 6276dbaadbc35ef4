// Package presets holds the live platforms (YouTube, Facebook, Twitch, ...) an operator can
// add as a destination by pasting a stream key: their ingest URLs, where the key goes, and what
// each platform asks of the stream it ingests (codecs, picture size, keyframe interval), so the
// console can warn before the platform refuses. Beffroi ships them in presets.yaml, embedded.
package presets
