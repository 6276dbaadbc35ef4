// Package relaytest publishes synthetic media to relay streams and reads it back, for the
// tests of the protocol packages (ingest/..., outputs/...): one fake publisher instead of a
// copy in each package. Its H.264 pictures carry slice headers that parsers and DTS
// extractors accept and a sequence number that survives every protocol, so a test on the
// far side of a real peer can tell which frame arrived, in which order, and whether its bytes
// are intact. Only _test.go files import it; it imports relay and no protocol package.
package relaytest
