// Package store is Beffroi's embedded database: one SQLite file (<data_dir>/beffroi.db,
// pure Go, WAL) holding what operators change at runtime: the recordings catalogue, the
// console's users, sessions, API tokens and audit log, and the streams and destinations made
// in the console. The schema grows by numbered migrations (migrations.go).
//
// Only web and the composition root import this package: a component that must persist
// something declares a small interface where it is used (record.Catalog, manage.Store,
// auth.Store) and the store implements it.
package store
