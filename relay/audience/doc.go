// Package audience counts the viewers of each stream: exact sessions (WHEP, RTMP players),
// HLS sessions known by a token handed out in the multivariant playlist, and the watch page's
// beacons; concurrency now and by protocol, the peak and its time, distinct viewers, total
// watch time, and a bounded series of samples for the event's report. No sockets here: the
// HLS output, the WHEP server and the web API report to it.
package audience
