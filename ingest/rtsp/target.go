package rtsp

import (
	"net/url"
	"regexp"
	"strings"
)

// keyParam is the query parameter that carries the publish key:
// rtsp://host:8554/<stream>?key=<publishKey>.
const keyParam = "key"

// parseTarget splits what a publisher's request URL says: the stream named by the path
// ("/event" or "/event/") and the publish key of the query, if any. Strangers choose both: the
// result is only ever compared with the registry, never trusted.
func parseTarget(path, rawQuery string) (stream, key string) {
	return strings.Trim(path, "/"), keyFromQuery(rawQuery)
}

// keyFromQuery returns the key parameter of a raw query, unescaped when it can be. Other
// parameters, even malformed ones, are ignored: some encoders add their own.
func keyFromQuery(rawQuery string) string {
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, value, _ := strings.Cut(part, "=")
		if name != keyParam {
			continue
		}
		if v, err := url.QueryUnescape(value); err == nil {
			return v
		}
		return value
	}
	return ""
}

var (
	urlPattern = regexp.MustCompile(`(?i)(rtsps?|https?)://[^\s'"()<>]*`)
	keyPattern = regexp.MustCompile(`key=[^\s&'"()<>]+`)
)

// redact removes secrets from a message that is about to reach a log line or an API response:
// each of the given strings (as given and URL-escaped), every URL (reduced to its scheme and
// host) and every key= parameter. Library errors quote URLs and paths as they received them,
// and those may carry a publish key or a camera's password.
func redact(msg string, secrets ...string) string {
	msg = urlPattern.ReplaceAllStringFunc(msg, func(u string) string {
		scheme, rest, _ := strings.Cut(u, "://")
		// Credentials end at the last @ (a password may hold a / or a ?); what follows them is
		// the host, up to the path or the query.
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		host, _, _ := strings.Cut(rest, "/")
		host, _, _ = strings.Cut(host, "?")
		return scheme + "://" + host + "/..."
	})
	for _, s := range secrets {
		if len(s) < 3 {
			// Too short to be a real secret, and replacing it would mangle the message.
			continue
		}
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			msg = strings.ReplaceAll(msg, v, "<redacted>")
		}
	}
	return keyPattern.ReplaceAllString(msg, "key=<redacted>")
}
