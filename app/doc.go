// Package app is Beffroi's composition root: New builds every component the configuration
// describes, in dependency order (the database and the WebRTC port first), and Run runs them
// as one list of components in the shutdown phases DESIGN.md asks for (ingest, recorders,
// viewers, the registry, destinations, HTTP, sweeps, the database). Reload applies a new
// configuration's streams and destinations to the running components, leaving what did not
// change alone. It is the only package, with cmd/beffroi, that imports everything.
package app
