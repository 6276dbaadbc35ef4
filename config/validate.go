package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/certmagic"

	"github.com/beffroi/beffroi/internal/clientip"
	"github.com/beffroi/beffroi/internal/tlsauto"
	"github.com/beffroi/beffroi/outputs/platforms"
	"github.com/beffroi/beffroi/relay/transcode"
	"github.com/beffroi/beffroi/web/watch"
)

// slugRE is the rule for stream and destination names: they appear in URLs and file names.
var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

const slugRule = "use a-z, 0-9, - and _, up to 64 characters"

// keyForbidden are the characters a publish key cannot hold: it is a path segment of RTMP URLs
// (rtmp://host/live/<key>) and a field of SRT stream IDs (publish:<stream>:<key>,
// #!::r=<stream>,m=publish,s=<key>).
const keyForbidden = "/?#:,"

// isPlannedScheme reports destination schemes worth naming in an error: the user clearly meant
// a protocol. Any other scheme is not printed, since a pasted stream key with a colon would
// parse as one.
func isPlannedScheme(scheme string) bool {
	switch scheme {
	case "rist", "rtsp", "rtsps", "whip", "http", "https", "udp", "tcp":
		return true
	}
	return false
}

func logLevels() []string  { return []string{"debug", "info", "warn", "error"} }
func logFormats() []string { return []string{"text", "json"} }
func watchModes() []string { return []string{watch.ModeAuto, watch.ModeHLS, watch.ModeWebRTC} }

// pullTransports are the values of streams[].pull.transport.
func pullTransports() []string { return []string{"tcp", "udp", "auto"} }

// Validate checks every key and returns an error naming the exact key and the problem. When
// several keys are wrong, the error joins one line per problem. No secret (publish key,
// destination URL) ever appears in the error.
func (c *Config) Validate() error {
	var p problems

	if msg := checkAddr(c.HTTP.Addr); msg != "" {
		p.add("http.addr", "%s", msg)
	}
	c.validateExposure(&p)
	if n := len(c.Admin.Password); n > 0 && n < 10 {
		p.add("admin.password", "at least 10 characters (BEFFROI_ADMIN_PASSWORD)")
	}
	if n := len(c.Admin.Token); n > 0 && n < 20 {
		p.add("admin.token", "at least 20 characters (BEFFROI_ADMIN_TOKEN)")
	}
	if c.RTMP.Addr != "" {
		if msg := checkAddr(c.RTMP.Addr); msg != "" {
			p.add("rtmp.addr", "%s", msg)
		}
	}
	if c.RTMPS.Addr != "" {
		if msg := checkAddr(c.RTMPS.Addr); msg != "" {
			p.add("rtmps.addr", "%s", msg)
		}
	}
	c.validateTLS(&p)
	c.validateHTTPS(&p)
	if c.SRT.Addr != "" {
		if msg := checkAddr(c.SRT.Addr); msg != "" {
			p.add("srt.addr", "%s", msg)
		}
	}
	if n := len(c.SRT.Passphrase); n != 0 && (n < 10 || n > 79) {
		// SRT's own limits; the passphrase itself is never printed.
		p.add("srt.passphrase", "must be 10 to 79 characters long (got %d)", n)
	}
	if c.SRT.Latency < 0 {
		p.add("srt.latency", "must not be negative (got %s)", c.SRT.Latency)
	}
	if c.RTSP.Addr != "" {
		if msg := checkAddr(c.RTSP.Addr); msg != "" {
			p.add("rtsp.addr", "%s", msg)
		}
	}

	if c.DataDir == "" {
		p.add("data_dir", "must not be empty")
	}
	// Zero is no grace, in every component: the publisher leaving ends the session at once.
	if c.ReconnectGrace < 0 {
		p.add("reconnect_grace", "must not be negative (got %s)", c.ReconnectGrace)
	}
	if !slices.Contains(logLevels(), c.Log.Level) {
		p.add("log.level", "%q is not one of %s", c.Log.Level, strings.Join(logLevels(), ", "))
	}
	if !slices.Contains(logFormats(), c.Log.Format) {
		p.add("log.format", "%q is not one of %s", c.Log.Format, strings.Join(logFormats(), ", "))
	}
	if _, err := ParseSize(c.Health.MinFreeDisk); err != nil {
		p.add("health.min_free_disk", "%v", err)
	}

	o := c.Outputs
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"rtmp.write_timeout", c.RTMP.WriteTimeout},
		{"rtmp.max_lag", c.RTMP.MaxLag},
		{"rtsp.pull_retry_min", c.RTSP.PullRetryMin},
		{"rtsp.pull_retry_max", c.RTSP.PullRetryMax},
		{"outputs.write_timeout", o.WriteTimeout},
		{"outputs.max_lag", o.MaxLag},
		{"outputs.retry_min", o.RetryMin},
		{"outputs.retry_max", o.RetryMax},
		{"hls.max_lag", c.HLS.MaxLag},
		{"whep.max_lag", c.WHEP.MaxLag},
	} {
		if d.val <= 0 {
			p.add(d.key, "must be positive (got %s)", d.val)
		}
	}
	checkRetry(&p, "outputs.retry_min", "outputs.retry_max", o.RetryMin, o.RetryMax)
	checkRetry(&p, "rtsp.pull_retry_min", "rtsp.pull_retry_max", c.RTSP.PullRetryMin, c.RTSP.PullRetryMax)

	if p2 := c.WebRTC.UDPPort; p2 < 0 || p2 > 65535 {
		p.add("webrtc.udp_port", "%d is not a port (0 to 65535)", p2)
	}
	if p2 := c.WebRTC.TCPPort; p2 < -1 || p2 > 65535 {
		p.add("webrtc.tcp_port", "%d is not a port (0 to 65535, or -1 to disable ICE-TCP)", p2)
	}
	for i, ip := range c.WebRTC.PublicIPs {
		if net.ParseIP(ip) == nil {
			p.add(fmt.Sprintf("webrtc.public_ips[%d]", i), "%q is not an IP address", ip)
		}
	}
	if c.WebRTC.KeyframeInterval <= 0 {
		p.add("webrtc.keyframe_interval", "must be positive (got %s)", c.WebRTC.KeyframeInterval)
	}
	if c.Transcode.FFmpeg == "" {
		p.add("transcode.ffmpeg", "must not be empty")
	}
	if b := c.Transcode.AACBitrate; b < 32000 || b > 512000 {
		p.add("transcode.aac_bitrate", "%d is out of range (32000 to 512000 bits per second)", b)
	}
	if !slices.Contains(watchModes(), c.Watch.Mode) {
		p.add("watch.mode", "%q is not one of %s", c.Watch.Mode, strings.Join(watchModes(), ", "))
	}

	if d := c.Record.SegmentDuration; d < 500*time.Millisecond || d > time.Minute {
		p.add("record.segment_duration", "%s is out of range (500ms to 1m)", d)
	}

	c.validateViewers(&p)
	c.validateStreams(&p)
	c.validateRetention(&p)
	c.validateStorage(&p)
	return errors.Join(p...)
}

func (c *Config) validateTLS(p *problems) {
	checkKeyPair(p, "rtmps", c.RTMPS.Cert, c.RTMPS.Key)
}

// checkKeyPair checks a section's cert and key files (both or neither, readable, a pair).
func checkKeyPair(p *problems, section, cert, key string) {
	switch {
	case cert == "" && key == "":
		return
	case key == "":
		p.add(section+".key", "required when %s.cert is set", section)
		return
	case cert == "":
		p.add(section+".cert", "required when %s.key is set", section)
		return
	}
	ok := true
	if _, err := os.Stat(cert); err != nil {
		p.add(section+".cert", "%v", err)
		ok = false
	}
	if _, err := os.Stat(key); err != nil {
		p.add(section+".key", "%v", err)
		ok = false
	}
	if ok {
		// crypto/tls errors describe the problem, never the key material.
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			p.add(section+".cert and "+section+".key", "cannot load the key pair: %v", err)
		}
	}
}

// domainRE is a DNS name of two labels or more, as a certificate names it.
var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validateHTTPS checks the tls section: HTTPS by Beffroi itself, over ACME or from files.
func (c *Config) validateHTTPS(p *problems) {
	t := c.TLS
	checkKeyPair(p, "tls", t.Cert, t.Key)
	if t.Domain != "" {
		switch {
		case !domainRE.MatchString(t.Domain) || len(t.Domain) > 253:
			p.add("tls.domain", "%q is not a domain name (want the public name, e.g. live.example.org, lower case, no scheme or port)", t.Domain)
		case t.ACMECA == "" && certmagic.SubjectIsInternal(t.Domain):
			p.add("tls.domain", "%q is a local name: a public CA cannot validate it (set tls.acme_ca for a private ACME CA)", t.Domain)
		}
		if t.Cert != "" {
			p.add("tls.domain", "set either tls.domain (ACME) or tls.cert and tls.key (files), not both")
		}
	} else {
		for _, k := range []struct{ key, val string }{
			{"tls.email", t.Email}, {"tls.acme_ca", t.ACMECA}, {"tls.acme_ca_root", t.ACMECARoot},
		} {
			if k.val != "" {
				p.add(k.key, "needs tls.domain (the name to get a certificate for)")
			}
		}
	}
	if e := t.Email; e != "" && (strings.Count(e, "@") != 1 || strings.HasPrefix(e, "@") || strings.HasSuffix(e, "@") || strings.ContainsAny(e, " \t<>")) {
		p.add("tls.email", "%q is not an email address", e)
	}
	if raw := t.ACMECA; raw != "" {
		if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
			p.add("tls.acme_ca", "%q is not an https:// URL (the ACME directory, e.g. https://acme-staging-v02.api.letsencrypt.org/directory)", raw)
		}
	}
	if t.ACMECARoot != "" {
		if _, err := tlsauto.LoadRoots(t.ACMECARoot); err != nil {
			p.add("tls.acme_ca_root", "%v", err)
		}
	}
	if !t.Enabled() {
		return
	}
	if msg := checkAddr(t.HTTPSListen); msg != "" {
		p.add("tls.https_listen", "%s", msg)
	}
	if t.HTTPListen != "" {
		if msg := checkAddr(t.HTTPListen); msg != "" {
			p.add("tls.http_listen", "%s", msg)
		}
	}
	if t.RenewInterval < time.Second {
		p.add("tls.renew_interval", "%s is too short (1s at least; default 10m)", t.RenewInterval)
	}
}

func (c *Config) validateStreams(p *problems) {
	names := map[string]int{}
	for i, s := range c.Streams {
		path := fmt.Sprintf("streams[%d]", i)
		if !slugRE.MatchString(s.Name) {
			p.add(path+".name", "%q is not a valid name (%s)", s.Name, slugRule)
		} else if j, dup := names[s.Name]; dup {
			p.add(path+".name", "%q is already used by streams[%d]", s.Name, j)
		} else {
			names[s.Name] = i
		}
	}

	keys := map[string]int{}
	for i, s := range c.Streams {
		path := fmt.Sprintf("streams[%d]", i)
		claimKey(p, path+".publish_key", s.PublishKey, i, keys, names,
			"same as streams[%d].publish_key (each stream needs its own key)")

		if s.Pull.URL != "" || s.Pull.Transport != "" {
			checkPull(p, path+".pull", s.Pull)
		}

		validateSources(p, i, s, keys, names)

		destNames := map[string]int{}
		for k, d := range s.Destinations {
			dpath := fmt.Sprintf("%s.destinations[%d]", path, k)
			checkEntryName(p, path+".destinations", k, d.Name, destNames)
			if msg := checkDestinationURL(d.URL); msg != "" {
				p.add(dpath+".url", "%s", msg)
			}
			if _, err := transcode.ParseShape(d.Shape); err != nil {
				p.add(dpath+".shape", "%s", strings.TrimPrefix(err.Error(), "unknown shape "))
			}
		}
	}
}

// validateSources checks a stream's backup sources: names, one key (unique among every
// stream's and source's keys) or one camera each, and the failover delays.
func validateSources(p *problems, i int, s Stream, keys, names map[string]int) {
	path := fmt.Sprintf("streams[%d]", i)
	if s.SourceName != "" && !slugRE.MatchString(s.SourceName) {
		p.add(path+".source_name", "%q is not a valid name (%s)", s.SourceName, slugRule)
	}
	if s.FailoverAfter < 0 {
		p.add(path+".failover_after", "must not be negative")
	}
	if s.FailbackAfter < 0 {
		p.add(path+".failback_after", "must not be negative")
	}
	if strings.TrimSpace(s.HLSLadder) != "" {
		if _, err := transcode.ParseLadder(s.HLSLadder); err != nil {
			p.add(path+".hls_ladder", "%s", err)
		}
	}
	primary := s.SourceName
	if primary == "" {
		primary = "primary"
	}
	seen := map[string]int{}
	for k, src := range s.Sources {
		spath := fmt.Sprintf("%s.sources[%d]", path, k)
		if src.Name != "" && src.Name == primary {
			p.add(spath+".name", "%q is the primary source's name (%s.source_name)", src.Name, path)
		} else {
			checkEntryName(p, path+".sources", k, src.Name, seen)
		}
		switch {
		case src.PublishKey == "" && src.Pull.URL == "":
			p.add(spath, "needs a publish_key (an encoder publishes) or a pull.url (a camera Beffroi pulls)")
		case src.PublishKey != "" && src.Pull.URL != "":
			p.add(spath, "has both a publish_key and a pull.url: choose one")
		case src.PublishKey != "":
			claimKey(p, spath+".publish_key", src.PublishKey, i, keys, names,
				"same as a publish key of streams[%d], its own or a source's (each source needs its own key)")
		default:
			checkPull(p, spath+".pull", src.Pull)
		}
	}
}

// claimKey checks a publish key of stream i (its own or a source's, at path) and, when it is
// good and unused, records it in keys; dup is the message when another has it (its stream's
// index for %d).
func claimKey(p *problems, path, key string, i int, keys, names map[string]int, dup string) {
	if msg := checkPublishKey(key); msg != "" {
		p.add(path, "%s", msg)
	} else if j, used := keys[key]; used {
		p.add(path, dup, j)
	} else if j, clash := names[key]; clash {
		p.add(path, "same as the name of streams[%d] (names are public, keys are secret)", j)
	} else {
		keys[key] = i
	}
}

// checkEntryName checks the name of entry k of a list (a stream's destinations or sources):
// required, a slug, unique in the list (seen holds the names before it).
func checkEntryName(p *problems, list string, k int, name string, seen map[string]int) {
	epath := fmt.Sprintf("%s[%d]", list, k)
	switch j, dup := seen[name]; {
	case name == "":
		p.add(epath+".name", "required")
	case !slugRE.MatchString(name):
		p.add(epath+".name", "%q is not a valid name (%s)", name, slugRule)
	case dup:
		p.add(epath+".name", "%q is already used by %s[%d]", name, list, j)
	default:
		seen[name] = k
	}
}

// checkPull checks a camera to pull (path is its key, "streams[0].pull").
func checkPull(p *problems, path string, pull Pull) {
	if msg := checkPullURL(pull.URL); msg != "" {
		p.add(path+".url", "%s", msg)
	}
	if t := pull.Transport; t != "" && !slices.Contains(pullTransports(), t) {
		p.add(path+".transport", "%q is not one of %s", t, strings.Join(pullTransports(), ", "))
	}
}

// checkRetry reports a first reconnect delay longer than the longest one.
func checkRetry(p *problems, minKey, maxKey string, lo, hi time.Duration) {
	if lo > 0 && hi > 0 && lo > hi {
		p.add(minKey, "%s is longer than %s (%s)", lo, maxKey, hi)
	}
}

// checkAddr returns what is wrong with a listen address, or "".
func checkAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not a valid address (want host:port, e.g. \":8080\" or \"127.0.0.1:8080\")", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("%q: the port must be a number from 0 to 65535", addr)
	}
	return ""
}

// checkPublishKey returns what is wrong with a publish key, or "". The key itself is never
// part of the answer.
func checkPublishKey(key string) string {
	switch {
	case key == "":
		return "required"
	case utf8.RuneCountInString(key) < 8:
		return "too short (at least 8 characters)"
	case strings.IndexFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "must not contain whitespace or control characters"
	case strings.ContainsAny(key, keyForbidden):
		return `must not contain "/", "?", "#", ":" or "," (it appears in RTMP and SRT URLs)`
	}
	return ""
}

// checkDestinationURL returns what is wrong with a push URL, or "". The URL carries the
// platform's stream key, so the answer names at most its scheme and host.
func checkDestinationURL(raw string) string {
	if raw == "" {
		return "required"
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL: say only that it is wrong.
		return "not a valid URL"
	}
	switch u.Scheme {
	case "rtmp", "rtmps":
	case "srt":
		// srt://host:port?streamid=...&passphrase=...: only host and port are checked here
		// (the query holds secrets); the pusher checks the rest when it starts.
		if u.Hostname() == "" || u.Port() == "" {
			return "missing host or port (want srt://host:port?streamid=...)"
		}
		return ""
	case "whip+http", "whip+https":
		// A WHIP endpoint: whip+https://host/path?token=... (the token is a secret).
		if u.Hostname() == "" {
			return fmt.Sprintf("missing host (want %s://host/path?token=...)", u.Scheme)
		}
		if strings.Trim(u.Path, "/") == "" {
			return fmt.Sprintf("%s://%s has no path (want %s://%s/whip/<stream>?token=...)", u.Scheme, u.Host, u.Scheme, u.Host)
		}
		return ""
	case "whip":
		return `scheme "whip": write the endpoint's URL with whip+ in front (whip+https://host/path?token=..., or whip+http://)`
	case "":
		return "missing scheme (want rtmp://host/app/key, rtmps://host/app/key or srt://host:port?streamid=...)"
	default:
		if isPlannedScheme(u.Scheme) {
			return fmt.Sprintf("scheme %q is not supported yet (rtmp, rtmps, srt)", u.Scheme)
		}
		return "unsupported scheme (rtmp, rtmps, srt)"
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("missing host (want %s://host/app/key)", u.Scheme)
	}
	if strings.Trim(u.Path, "/") == "" {
		return fmt.Sprintf("%s://%s has no path (want %s://%s/app/key)", u.Scheme, u.Host, u.Scheme, u.Host)
	}
	return ""
}

// checkPullURL returns what is wrong with a camera URL, or "". The URL may hold a password:
// only its scheme and host are ever printed.
func checkPullURL(raw string) string {
	if raw == "" {
		return "required (rtsp://[user:password@]camera/path)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return "unsupported scheme (rtsp, rtsps)"
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("missing host (want %s://camera/path)", u.Scheme)
	}
	return ""
}

// problems collects one error per wrong key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("config: "+key+": "+format, args...))
}

// validateViewers checks the hls and audience sections.
func (c *Config) validateViewers(p *problems) {
	h := c.HLS
	if h.PartDuration < 100*time.Millisecond || h.PartDuration > 2*time.Second {
		p.add("hls.part_duration", "%s is out of range (100ms to 2s)", h.PartDuration)
	}
	if h.SegmentDuration < 500*time.Millisecond || h.SegmentDuration > 10*time.Second {
		p.add("hls.segment_duration", "%s is out of range (500ms to 10s)", h.SegmentDuration)
	} else if h.SegmentDuration < 2*h.PartDuration {
		p.add("hls.segment_duration", "%s must be at least two parts (hls.part_duration is %s)", h.SegmentDuration, h.PartDuration)
	}
	if strings.TrimSpace(h.Ladder) != "" {
		if _, err := transcode.ParseLadder(h.Ladder); err != nil {
			p.add("hls.ladder", "%s", err)
		}
	}
	for i, o := range h.AllowOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			p.add(fmt.Sprintf("hls.allow_origins[%d]", i), "%q is not an origin like https://www.example.org (or \"*\")", o)
		}
	}
	if c.Audience.Window <= 0 {
		p.add("audience.window", "must be positive (got %s)", c.Audience.Window)
	}
	if c.Audience.BeaconWindow <= 0 {
		p.add("audience.beacon_window", "must be positive (got %s)", c.Audience.BeaconWindow)
	}
	c.validateAudiencePlatforms(p)
}

// validateAudiencePlatforms checks audience.platforms: the poll spacing the platforms'
// quotas allow, and base URLs (the real APIs, or a stand-in).
func (c *Config) validateAudiencePlatforms(p *problems) {
	ap := c.Audience.Platforms
	if ap.PollEvery < platforms.MinEvery {
		p.add("audience.platforms.poll_every", "must be at least %s, the platforms' quotas (got %s)", platforms.MinEvery, ap.PollEvery)
	}
	for _, u := range []struct{ key, val string }{{"youtube_url", ap.YouTubeURL}, {"twitch_url", ap.TwitchURL}, {"facebook_url", ap.FacebookURL}} {
		x, err := url.Parse(u.val)
		if err != nil || (x.Scheme != "http" && x.Scheme != "https") || x.Host == "" || x.RawQuery != "" || x.User != nil {
			p.add("audience.platforms."+u.key, "%q is not an http(s) base URL like %s", u.val, "https://api.example.com/v1")
		}
	}
}

// validateExposure checks what faces the internet: proxies, the public URL, the HTTP limits,
// the metrics token and the WebRTC caps.
func (c *Config) validateExposure(p *problems) {
	if _, err := clientip.ParsePrefixes(c.HTTP.TrustedProxies); err != nil {
		p.add("http.trusted_proxies", "%s", err.Error())
	}
	if u := c.HTTP.PublicURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || (pu.Path != "" && pu.Path != "/") ||
			pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil {
			p.add("http.public_url", "%q is not a base URL like https://live.example.org", u)
		}
	}
	if c.HTTP.IdleTimeout <= 0 {
		p.add("http.idle_timeout", "must be positive (got %s)", c.HTTP.IdleTimeout)
	}
	if c.HTTP.BodyTimeout <= 0 {
		p.add("http.body_timeout", "must be positive (got %s)", c.HTTP.BodyTimeout)
	}
	if c.HTTP.MaxConnections < 16 {
		p.add("http.max_connections", "at least 16 (got %d)", c.HTTP.MaxConnections)
	}
	if n := len(c.Metrics.Token); n > 0 && n < 20 {
		p.add("metrics.token", "at least 20 characters (BEFFROI_METRICS_TOKEN)")
	}
	if c.WebRTC.MaxPending < 1 {
		p.add("webrtc.max_pending", "at least 1 (got %d)", c.WebRTC.MaxPending)
	}
	if n := c.WebRTC.MaxPendingPerAddress; n < 1 || n > c.WebRTC.MaxPending {
		p.add("webrtc.max_pending_per_address", "from 1 to webrtc.max_pending (got %d)", n)
	}
}

// validateStorage checks record.storage and, for s3, record.s3. No key's value is printed.
func (c *Config) validateStorage(p *problems) {
	r := c.Record
	switch r.Storage {
	case StorageLocal:
		return
	case StorageS3:
	default:
		p.add("record.storage", "%q is not one of %s, %s", r.Storage, StorageLocal, StorageS3)
		return
	}
	e := r.S3.Endpoint
	switch {
	case e == "":
		p.add("record.s3.endpoint", "required when record.storage is s3 (host or host:port)")
	case strings.Contains(e, "://"):
		p.add("record.s3.endpoint", "%q: write host[:port] without a scheme (record.s3.use_ssl chooses https)", e)
	case strings.ContainsAny(e, "/?# "):
		p.add("record.s3.endpoint", "%q is not host[:port]", e)
	}
	if b := r.S3.Bucket; b == "" {
		p.add("record.s3.bucket", "required when record.storage is s3")
	} else if !bucketRE.MatchString(b) {
		p.add("record.s3.bucket", "%q is not a bucket name (3 to 63 lowercase letters, digits, '.' and '-')", b)
	}
	if r.S3.AccessKey == "" {
		p.add("record.s3.access_key", "required when record.storage is s3 (or BEFFROI_S3_ACCESS_KEY)")
	}
	if r.S3.SecretKey == "" {
		p.add("record.s3.secret_key", "required when record.storage is s3 (or BEFFROI_S3_SECRET_KEY)")
	}
	if strings.ContainsAny(r.S3.Prefix, " ?#\\") || strings.Contains(r.S3.Prefix, "..") {
		p.add("record.s3.prefix", "%q: use letters, digits, '/', '-', '_' and '.'", r.S3.Prefix)
	}
}

// bucketRE is an S3 bucket name.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
