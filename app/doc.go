// Package app assembles Beffroi from its configuration: streams, destinations, listeners and
// the HTTP server, with the shutdown order DESIGN.md asks for.
package app
