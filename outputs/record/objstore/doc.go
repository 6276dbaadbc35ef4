// Package objstore copies recordings to S3-compatible object storage (record.storage: s3)
// and reads them back.
//
// The recorder writes every file locally first, exactly as without object storage (a crash
// or a power cut leaves the same playable recording); the Uploader then copies each file as
// it closes — init segments and media segments as they are written, the final playlist and
// recording.json once the recording is closed — in order, a few at a time, retrying with
// exponential back-off for as long as the store is unreachable. Each confirmed upload is
// appended to the recording's ledger (record.UploadsFile) before the local copy is removed
// (unless keep_local); a restart scans the recordings directory and uploads what the
// ledgers do not list. The playlist, recording.json and the ledger stay on the disk (a few
// kilobytes): the catalogue is rebuilt and crashes are recovered from them.
//
// Keys in the bucket are <prefix><recording id>/<file name>.
package objstore
