// Package store is Beffroi's embedded database: one SQLite file (<data_dir>/beffroi.db,
// pure Go, WAL) holding what operators change at runtime: the recordings catalogue, the
// console's users, sessions, API tokens and audit log, the streams and destinations made in
// the console, and the audience of each stream's last event. The schema grows by numbered
// migrations (migrations.go).
//
// Only web and the composition root import this package: a component that must persist
// something declares a small interface where it is used (record.Catalog, manage.Store,
// auth.Store, audience.Journal) and the store implements it.
package store
