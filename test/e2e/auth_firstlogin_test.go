package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/beffroi/beffroi/internal/testutil"
)

// firstLoginStep is one line auth_firstlogin.mjs prints.
type firstLoginStep struct {
	Event        string   `json:"event"`
	Text         string   `json:"text"`
	Title        string   `json:"title"`
	View         string   `json:"view"`
	NavLinks     int      `json:"navLinks"`
	AskedCurrent bool     `json:"askedCurrent"`
	Streams      int      `json:"streams"`
	Secrets      []string `json:"secrets"`
}

// TestAuthFirstLoginChangesPassword: a first start without BEFFROI_ADMIN_PASSWORD logs a
// one-time password; in headless Chromium (French, a phone's screen) it opens only the
// "choose a new password" screen, where the API refuses everything else; once the admin has
// chosen a password the console works, the one-time password is refused and the new one
// logs in. Neither password stays in the page, and the chosen one never reaches the log.
func TestAuthFirstLoginChangesPassword(t *testing.T) {
	browserDir(t)
	b := startBeffroi(t, nil) // no admin password: a one-time one is made and logged
	var oneTime string
	pattern := regexp.MustCompile(`one-time password[^\n]*password=([A-Za-z0-9_-]{12,})`)
	testutil.WaitFor(t, "the one-time password in the log", func() bool {
		m := pattern.FindStringSubmatch(b.Logs.String())
		if m != nil {
			oneTime = m[1]
		}
		return m != nil
	})
	const chosen = "clocher-d-arras-2024"
	args, _ := json.Marshal(map[string]string{"base": "http://" + b.HTTPAddr(), "oneTime": oneTime, "chosen": chosen, "artifacts": artifactsDir(t, "console")})
	steps := runDriver[firstLoginStep](t, "auth_firstlogin.mjs", nil, string(args))

	first := steps["first_screen"]
	if first.Title != "Choisissez un nouveau mot de passe" || first.View != "first-password" || first.NavLinks != 0 || first.AskedCurrent {
		t.Errorf("the first screen: %+v; want the French \"choose a new password\" screen, no navigation, the one-time password not asked again", first)
	}
	if first.Streams != http.StatusForbidden {
		t.Errorf("GET /api/v1/streams before the change: %d, want 403", first.Streams)
	}
	if s := steps["mismatch"]; !strings.Contains(s.Text, "diffèrent") {
		t.Errorf("two different new passwords: %q", s.Text)
	}
	if s := steps["changed"]; s.Streams != http.StatusOK || len(s.Secrets) != 0 {
		t.Errorf("after the change: %+v; want the API open and no password in the page", s)
	}
	if s := steps["one_time_refused"]; !strings.Contains(s.Text, "incorrect") {
		t.Errorf("the one-time password after the change: %q, want refused", s.Text)
	}
	if s, ok := steps["new_password_works"]; !ok || len(s.Secrets) != 0 {
		t.Errorf("the new password: %+v (reached: %v)", s, ok)
	}
	testutil.AssertNoSecret(t, "log", b.Logs.String(), chosen)
}
