package config

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const serviceFile = "beffroi.service"

// unitKeys reads a systemd unit: every value of each key of [Service], in order.
func unitKeys(t *testing.T, text string) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a key=value line: %q", serviceFile, line)
			}
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// The unit keeps the promises README makes of it: its own user, a read-only system but the
// data directory, the one capability for ports under 1024, reload by SIGHUP after a check,
// enough descriptors for thousands of viewers.
func TestServiceUnit(t *testing.T) {
	text, err := os.ReadFile(serviceFile)
	if err != nil {
		t.Fatal(err)
	}
	keys := unitKeys(t, string(text))
	one := func(k string) string {
		t.Helper()
		if len(keys[k]) != 1 {
			t.Errorf("%s: want one %s=, got %q", serviceFile, k, keys[k])
			return ""
		}
		return keys[k][0]
	}
	for k, want := range map[string]string{
		"User": "beffroi", "Group": "beffroi", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "NoNewPrivileges": "yes", "Restart": "on-failure",
		"AmbientCapabilities": "CAP_NET_BIND_SERVICE", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK", "StateDirectory": "beffroi",
	} {
		if got := one(k); got != want {
			t.Errorf("%s=%s, want %s", k, got, want)
		}
	}
	if n, err := strconv.Atoi(one("LimitNOFILE")); err != nil || n < 65536 {
		t.Errorf("LimitNOFILE=%d (%v): want at least 65536", n, err)
	}
	// The data directory the process is given is the one it may write.
	dataDir, ok := strings.CutPrefix(one("Environment"), envName("data_dir")+"=")
	if !ok || one("ReadWritePaths") != dataDir || one("WorkingDirectory") != dataDir {
		t.Errorf("data dir %q, ReadWritePaths %q, WorkingDirectory %q", dataDir, keys["ReadWritePaths"], keys["WorkingDirectory"])
	}
	start := one("ExecStart")
	cfgArg := start[strings.Index(start, "--config"):]
	if !strings.HasSuffix(start, " run "+cfgArg) || one("ExecStartPre") != strings.Replace(start, " run ", " config check ", 1) {
		t.Errorf("ExecStartPre %q does not check what ExecStart %q runs", keys["ExecStartPre"], start)
	}
	if r := keys["ExecReload"]; len(r) != 2 || r[0] != keys["ExecStartPre"][0] || r[1] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload %q: want the check, then SIGHUP", r)
	}
}

// systemd-analyze verify accepts the unit, without a warning (an unknown key is only a
// warning to it). The programs it names are replaced by /bin/true, which exists.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the unit is not verified")
	}
	text, err := os.ReadFile(serviceFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), serviceFile)
	if err := os.WriteFile(unit, bytes.ReplaceAll(text, []byte("/usr/local/bin/beffroi"), []byte("/bin/true")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
