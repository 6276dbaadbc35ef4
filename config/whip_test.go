package config

import "testing"

// TestWHIPDestinationURLs: WHIP endpoints are destinations, with their token in the query or
// as the userinfo's password.
func TestWHIPDestinationURLs(t *testing.T) {
	for _, ok := range []string{
		"whip+https://ingest.example.org/whip/concert?token=s3cret",
		"whip+http://10.0.0.2:8080/whip/concert?token=s3cret",
		"whip+https://beffroi:s3cret@ingest.example.org/rtc/v1/whip/?app=live&stream=x",
	} {
		if msg := checkDestinationURL(ok); msg != "" {
			t.Errorf("checkDestinationURL(%s): %s", ok, msg)
		}
	}
	for _, bad := range []string{"whip+https:///whip/x?token=s3cret", "whip+https://host/?token=s3cret", "whip://host/whip/x"} {
		if msg := checkDestinationURL(bad); msg == "" {
			t.Errorf("checkDestinationURL(%s) accepted it", bad)
		}
	}
}
