package whip

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Schemes returns the destination URL schemes this package serves: the WHIP endpoint's own
// URL with "whip+" in front, so that a destination list tells WHIP from other HTTP URLs.
func Schemes() []string { return []string{"whip+http", "whip+https"} }

// target is a parsed destination URL.
type target struct {
	endpoint *url.URL // http(s)://host/path[?query], without the token
	token    string   // the bearer token, "" when none
}

// parseURL reads whip+https://host/path?token=<bearer token> (or the token as the userinfo's
// password: whip+https://any:<token>@host/path). Other query parameters stay on the endpoint's
// URL. Errors never quote the URL: it holds the token.
func parseURL(u *url.URL) (target, error) {
	scheme, ok := strings.CutPrefix(u.Scheme, "whip+")
	if !ok || scheme != "http" && scheme != "https" {
		return target{}, fmt.Errorf("unsupported scheme %q (want whip+https or whip+http)", u.Scheme)
	}
	if u.Hostname() == "" {
		return target{}, errors.New("URL has no host")
	}
	if strings.Trim(u.Path, "/") == "" {
		return target{}, errors.New("URL has no path (whip+https://host/whip/<stream>?token=...)")
	}
	if u.Fragment != "" {
		return target{}, errors.New("URL has a fragment (put the token in ?token=)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// ParseQuery's error quotes the query, which holds the token.
		return target{}, errors.New("the URL's query is not valid")
	}
	var t target
	if vs := q["token"]; len(vs) > 0 {
		if len(vs) > 1 {
			return target{}, errors.New("the URL has more than one token")
		}
		t.token = vs[0]
		q.Del("token")
	}
	if u.User != nil {
		pw, ok := u.User.Password()
		switch {
		case !ok || pw == "":
			return target{}, errors.New("the URL has a user but no password (the token goes in the password, whip+https://any:<token>@host/path, or in ?token=)")
		case t.token != "" && pw != t.token:
			return target{}, errors.New("the URL has two different tokens (userinfo and ?token=)")
		}
		t.token = pw
	}
	if strings.ContainsAny(t.token, " \t\r\n") {
		return target{}, errors.New("the token must not contain whitespace")
	}
	t.endpoint = &url.URL{Scheme: scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: q.Encode()}
	return t, nil
}
