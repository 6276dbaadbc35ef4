package edges

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedConfigurations: the shipped files still contain what a town edits (and what
// Start fills in), and nginx and Varnish accept them (nginx -t, varnishd -C) when installed.
func TestShippedConfigurations(t *testing.T) {
	dir := t.TempDir()
	conf, err := NginxConfig("127.0.0.1:18080", 18081, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server 127.0.0.1:18080;", "listen 127.0.0.1:18081;", filepath.Join(dir, "cache")} {
		b, _ := os.ReadFile(filepath.Join(dir, "beffroi-edge.conf"))
		if !strings.Contains(string(b), want) {
			t.Errorf("nginx edge configuration without %q", want)
		}
	}
	vcl, err := VarnishConfig("127.0.0.1:18080")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(vcl, `.port = "18080";`) {
		t.Errorf("VCL without the origin's port:\n%s", vcl)
	}
	if _, err := VarnishConfig("no-port"); err == nil {
		t.Error("an origin without a port was taken")
	}
	if _, err := replace("listen 8080;", "listen 80;", "x"); err == nil {
		t.Error("a replacement that does not apply was not reported")
	}
	if _, err := exec.LookPath("nginx"); err == nil {
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("nginx", "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
			t.Errorf("nginx -t refuses the shipped edge: %v\n%s", err, out)
		}
	}
	if _, err := exec.LookPath("varnishd"); err == nil {
		path := filepath.Join(dir, "edge.vcl")
		if err := os.WriteFile(path, []byte(vcl), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("varnishd", "-C", "-j", "none", "-n", filepath.Join(dir, "work"), "-f", path).CombinedOutput(); err != nil {
			t.Errorf("varnishd -C refuses the shipped VCL: %v\n%s", err, out)
		}
	}
}
