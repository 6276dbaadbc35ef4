// Package replays serves the recordings catalogue: the operator API (/api/v1/recordings),
// the replay files (/recordings/{id}/index.m3u8, its segments, the MP4 and the thumbnail),
// the public pages (/replays, /replays/{id}, /embed/replays/{id}) and their JSON feed
// (/api/v1/public/replays), and the retention sweep that deletes old recordings (its Policy
// made from the configuration by PolicyFromConfig).
//
// A recording is public once an operator publishes it. Before that, every public route
// answers 404 as if it did not exist, and the replay files go only to requests the
// Operator middleware lets through.
package replays
