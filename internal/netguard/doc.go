// Package netguard keeps destinations off the networks they have no business reaching: an
// operator who can type a destination URL must not be able to make Beffroi connect to its own
// loopback services, the town's private network or a cloud's metadata service (SSRF). The
// check runs when dialling, on the address a name resolved to, so a name that resolves to a
// private address (DNS rebinding included) is refused like the address itself.
package netguard
