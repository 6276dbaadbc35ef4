// Package config loads and validates Beffroi's static configuration: defaults in code, then a
// YAML file, then BEFFROI_* environment variables, then command-line flags.
package config
