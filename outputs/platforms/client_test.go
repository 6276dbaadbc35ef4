package platforms_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/outputs/platforms/platformstest"
)

func newFake(t *testing.T) (*platformstest.Fake, *platforms.Client) {
	t.Helper()
	f := platformstest.New()
	t.Cleanup(f.Close)
	return f, &platforms.Client{HTTP: f.Client(), Endpoints: f.Endpoints()}
}

// TestClientAnswers: each platform's documented answers and errors map to a count, offline,
// or the right kind of failure, and no error text holds a secret.
func TestClientAnswers(t *testing.T) {
	f, c := newFake(t)
	f.RetryAfter = 7
	all := []string{platforms.YouTube, platforms.Twitch, platforms.Facebook}
	for i, p := range all {
		f.SetViewers(p, 100*(i+1))
	}
	cases := []struct {
		fail  platformstest.Failure
		kind  platforms.Kind // "" with offline false: a count
		retry bool           // a RetryAfter is known
	}{
		{platformstest.None, "", false},
		{platformstest.Offline, "", false},
		{platformstest.RateLimit, platforms.RateLimited, true},
		{platformstest.Quota, platforms.RateLimited, false},
		{platformstest.Expired, platforms.Unauthorized, false},
		{platformstest.ServerError, platforms.Failed, false},
	}
	for i, p := range all {
		for _, tc := range cases {
			f.Fail(p, tc.fail)
			n, err := c.Viewers(context.Background(), platformstest.Credentials(p))
			name := p + "/" + string(tc.fail)
			switch tc.fail {
			case platformstest.None:
				if err != nil || n != 100*(i+1) {
					t.Errorf("%s: %d, %v; want %d", name, n, err, 100*(i+1))
				}
			case platformstest.Offline:
				if !errors.Is(err, platforms.ErrOffline) {
					t.Errorf("%s: %d, %v; want offline", name, n, err)
				}
			default:
				var pe *platforms.Error
				if !errors.As(err, &pe) || pe.Kind != tc.kind {
					t.Errorf("%s: %v; want a %s error", name, err, tc.kind)
					continue
				}
				if tc.retry && pe.RetryAfter < 6*time.Second {
					t.Errorf("%s: retry after %s; want the platform's 7 s", name, pe.RetryAfter)
				}
				for _, secret := range []string{platformstest.YouTubeKey, platformstest.TwitchToken, platformstest.FacebookToken} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: the error %q holds a secret", name, err)
					}
				}
			}
		}
		f.Fail(p, platformstest.None)
	}
	// YouTube's spent daily quota lasts until midnight Pacific time.
	f.Fail(platforms.YouTube, platformstest.Quota)
	_, err := c.Viewers(context.Background(), platformstest.Credentials(platforms.YouTube))
	var pe *platforms.Error
	if !errors.As(err, &pe) || pe.RetryAfter <= 0 || pe.RetryAfter > 25*time.Hour {
		t.Errorf("youtube quota: %v (retry after %v); want a wait until the quota day ends", err, pe)
	}
}

// TestClientWrongCredentials: a wrong key or ID is an expired token or a missing broadcast,
// and a transport error does not repeat the URL (it holds YouTube's key).
func TestClientWrongCredentials(t *testing.T) {
	f, c := newFake(t)
	for _, p := range []string{platforms.YouTube, platforms.Twitch, platforms.Facebook} {
		cred := platformstest.Credentials(p)
		cred.Token, cred.APIKey = "wrong", ""
		if p == platforms.YouTube {
			cred.APIKey = "wrong"
		}
		var pe *platforms.Error
		if _, err := c.Viewers(context.Background(), cred); !errors.As(err, &pe) || pe.Kind != platforms.Unauthorized {
			t.Errorf("%s with a wrong token: %v", p, err)
		}
		cred = platformstest.Credentials(p)
		cred.ID = "nosuchid"
		_, err := c.Viewers(context.Background(), cred)
		if p == platforms.Twitch {
			if !errors.Is(err, platforms.ErrOffline) { // Helix: an unknown login is an empty data array
				t.Errorf("twitch unknown login: %v", err)
			}
		} else if !errors.As(err, &pe) || pe.Kind != platforms.NotFound {
			t.Errorf("%s unknown id: %v", p, err)
		}
	}
	f.Close()
	_, err := c.Viewers(context.Background(), platformstest.Credentials(platforms.YouTube))
	if err == nil || strings.Contains(err.Error(), platformstest.YouTubeKey) || strings.Contains(err.Error(), "key=") {
		t.Errorf("closed server: %v", err)
	}
}

func TestCredentialsValidate(t *testing.T) {
	for _, tc := range []struct {
		c    platforms.Credentials
		want string
	}{
		{platforms.Credentials{Platform: "x", ID: "a"}, `platform must be "youtube", "twitch" or "facebook" (got "x")`},
		{platforms.Credentials{Platform: platforms.YouTube}, "youtube: id is required"},
		{platforms.Credentials{Platform: platforms.YouTube, ID: "a/b", APIKey: "k"}, `youtube: id "a/b" is not a valid`},
		{platforms.Credentials{Platform: platforms.YouTube, ID: "a"}, "youtube: an api_key or an OAuth token is required"},
		{platforms.Credentials{Platform: platforms.Twitch, ID: "a", Token: "t"}, "twitch: client_id and token are both required"},
		{platforms.Credentials{Platform: platforms.Facebook, ID: "1"}, "facebook: an access token is required"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.c, err, tc.want)
		}
	}
	for _, p := range []string{platforms.YouTube, platforms.Twitch, platforms.Facebook} {
		if err := platformstest.Credentials(p).Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
