// Package platforms reads the live viewer counts the platforms themselves publish (YouTube
// Data API, Twitch Helix, Facebook Graph) for the destinations an operator gave API
// credentials to, so the audience can show one number across platforms. A Client makes one
// request; a Poller polls each destination while it is live, backs off on errors and
// quota limits, and says in words what is wrong (an expired token, a quota reached).
package platforms
