// Package store is Beffroi's embedded database: one SQLite file (<data_dir>/beffroi.db,
// pure Go, WAL) holding what operators change at runtime. Today that is the recordings
// catalogue; the console's users, API tokens, streams, destinations and audit log join it as
// new migrations.
//
// Only web and cmd import this package: a component that must persist something declares a
// small interface where it is used (record.Catalog) and the store implements it.
package store
