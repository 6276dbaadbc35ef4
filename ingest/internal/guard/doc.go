// Package guard keeps one bad client from hurting an ingest server: Failures limits
// publish-key guessing per address and logs refusals in bursts, LogPanic turns a connection
// handler's panic into one log line so that the server keeps serving the others.
package guard
