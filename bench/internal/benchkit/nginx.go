package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NginxRTMPModule is where Debian's libnginx-mod-rtmp puts the RTMP module.
const NginxRTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// NginxRTMPConfig is the whole configuration of a one-process nginx in the foreground that
// serves RTMP on addr with the module's defaults, its pid and error log in dir; apps is the
// rtmp server block's body (its applications), e.g. "application live { live on; }".
func NginxRTMPConfig(dir, addr, apps string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "load_module %s;\ndaemon off;\nmaster_process off;\nworker_processes 1;\n", NginxRTMPModule)
	fmt.Fprintf(&b, "worker_rlimit_nofile 16384;\npid %s;\nerror_log %s warn;\n",
		filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"))
	b.WriteString("events {\n  worker_connections 8192;\n}\n")
	fmt.Fprintf(&b, "rtmp {\n  access_log off;\n  server {\n    listen %s;\n    %s\n  }\n}\n", addr, apps)
	return b.String()
}

// StartNginxRTMP runs nginx with the RTMP module on a free loopback port, with apps as in
// NginxRTMPConfig; its files are in dir.
func StartNginxRTMP(ctx context.Context, dir, apps string) (*Proc, error) {
	addr, err := FreeAddr("tcp")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o750); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(NginxRTMPConfig(dir, addr, apps)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "error.log"))
	return Start(ctx, cmd, addr, filepath.Join(dir, "nginx.log"))
}
