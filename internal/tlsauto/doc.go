// Package tlsauto gives Beffroi's HTTPS and RTMPS listeners their certificate: obtained and
// renewed over ACME (Let's Encrypt, or any ACME CA) with caddyserver/certmagic when
// tls.domain is set, or read from PEM files (tls.cert, tls.key) and read again when they
// change. Both report the certificate they serve for /healthz.
package tlsauto
