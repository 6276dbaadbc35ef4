// Package relay is Beffroi's media plane: streams, their tracks and frames, the fan-out ring
// every reader consumes with its own cursor, the timeline that survives a publisher
// reconnecting, and the Registry of streams by name (Registry.Follow runs a component's work
// for each of them). It opens no sockets; protocol adapters in ingest/ and outputs/ convert
// to and from its types.
package relay
