// Package config loads and validates Beffroi's static configuration: defaults in code (each
// component's own exported defaults), then a YAML file, then BEFFROI_* environment variables,
// then command-line flags. beffroi.example.yaml, beside this file, lists every key with its
// default; the tests hold it to Default.
package config
