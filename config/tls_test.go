package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// The tls section: each bad value gets an error naming its key.
func TestTLSSection(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	missing := filepath.Join(dir, "missing.pem")
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"domain", "tls:\n  domain: live.ville-exemple.fr\n  email: com@ville-exemple.fr\n", ""},
		{"private CA", "tls:\n  domain: live.beffroi.test\n  acme_ca: https://127.0.0.1:14000/dir\n  acme_ca_root: " + cert + "\n", ""},
		{"files", "tls:\n  cert: " + cert + "\n  key: " + key + "\n  http_listen: \"\"\n", ""},
		{"no TLS, listeners not checked", "tls:\n  https_listen: nonsense\n", ""},
		{"domain with a scheme", "tls:\n  domain: https://live.example.org\n", `config: tls.domain: "https://live.example.org" is not a domain name (want the public name, e.g. live.example.org, lower case, no scheme or port)`},
		{"domain with a port", "tls:\n  domain: live.example.org:443\n", `config: tls.domain: "live.example.org:443" is not a domain name (want the public name, e.g. live.example.org, lower case, no scheme or port)`},
		{"one label", "tls:\n  domain: beffroi\n", `config: tls.domain: "beffroi" is not a domain name (want the public name, e.g. live.example.org, lower case, no scheme or port)`},
		{"local name for Let's Encrypt", "tls:\n  domain: beffroi.local\n", `config: tls.domain: "beffroi.local" is a local name: a public CA cannot validate it (set tls.acme_ca for a private ACME CA)`},
		{"domain and files", "tls:\n  domain: live.example.org\n  cert: " + cert + "\n  key: " + key + "\n", `config: tls.domain: set either tls.domain (ACME) or tls.cert and tls.key (files), not both`},
		{"email without domain", "tls:\n  email: com@example.org\n", `config: tls.email: needs tls.domain (the name to get a certificate for)`},
		{"bad email", "tls:\n  domain: live.example.org\n  email: communication\n", `config: tls.email: "communication" is not an email address`},
		{"CA not https", "tls:\n  domain: live.example.org\n  acme_ca: http://ca.example.org/dir\n", `config: tls.acme_ca: "http://ca.example.org/dir" is not an https:// URL (the ACME directory, e.g. https://acme-staging-v02.api.letsencrypt.org/directory)`},
		{"CA root missing", "tls:\n  domain: live.example.org\n  acme_ca_root: " + missing + "\n", `config: tls.acme_ca_root: open ` + missing + `: no such file or directory`},
		{"CA root not PEM", "tls:\n  domain: live.example.org\n  acme_ca_root: " + writeConfig(t, "hello") + "\n", `no PEM certificate in it`},
		{"cert without key", "tls:\n  cert: " + cert + "\n", `config: tls.key: required when tls.cert is set`},
		{"bad HTTPS listener", "tls:\n  domain: live.example.org\n  https_listen: \"443\"\n", `config: tls.https_listen: "443" is not a valid address (want host:port, e.g. ":8080" or "127.0.0.1:8080")`},
		{"bad HTTP listener", "tls:\n  domain: live.example.org\n  http_listen: \":http\"\n", `config: tls.http_listen: ":http": the port must be a number from 0 to 65535`},
		{"renewal too often", "tls:\n  domain: live.example.org\n  renew_interval: 10ms\n", `config: tls.renew_interval: 10ms is too short (1s at least; default 10m)`},
		{"unknown key", "tls:\n  domains: [live.example.org]\n", `config: unknown key "tls.domains"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAndValidate(t, tt.yaml)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}
