# Beffroi LL-HLS edge: Varnish in front of one Beffroi origin.
#
# Debian: apt-get install varnish; copy this file to /etc/varnish/default.vcl, set the
# origin's address in "backend beffroi" (and, on the origin, list this edge's address in
# http.trusted_proxies), choose the listening port in varnish.service (-a :80), then
# `systemctl restart varnish`. See README.md, "Deploying for a big event".
#
# What it does:
# - parts, segments and init segments (immutable at the origin) are cached; media playlists
#   are cached by their blocking-request parameters only, for as long as the origin's
#   Cache-Control says (1 s for a plain playlist, six target durations for a blocking
#   answer), and never served stale;
# - request coalescing: while one request for a playlist or a part is at the origin (a
#   blocking request waits there for its part), every other viewer asking for the same one
#   waits on Varnish's waiting list for that answer instead of asking the origin too;
# - the multivariant playlist (index.m3u8) is passed through, never cached: it hands each
#   player its own session token, in an EXT-X-SESSION-DATA tag, because this edge says it
#   is one (X-Beffroi-Edge) and the URLs it caches then carry no token;
# - beacons (POST /api/v1/beacon) and everything else go to the origin; the public status
#   that every watch page polls is cached for its 2 s.
# X-Cache in each answer says HIT or MISS.

vcl 4.1;

backend beffroi {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    # A blocking playlist request waits at the origin for its part (up to three target
    # durations), a part announced by a preload hint until it is made.
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 10s;
}

sub vcl_recv {
    if (req.url ~ "^/hls/[^/]+/index\.m3u8") {
        # One per player: never shared.
        return (pass);
    }
    if (req.url ~ "^/hls/" || req.url ~ "^/api/v1/public/") {
        if (req.method != "GET" && req.method != "HEAD") {
            return (pass);
        }
        # The media is the same for every viewer: cookies (a console session on the same
        # site) must not make Varnish pass it.
        unset req.http.Cookie;
        unset req.http.Authorization;
        if (req.url ~ "_stream\.m3u8") {
            # Key a media playlist by its blocking-request parameters only: drop any other
            # parameter (an old page's session token), keep _HLS_msn, _HLS_part, _HLS_skip.
            set req.url = regsuball(req.url, "([?&])(?!_HLS_)[^&=]*(=[^&]*)?", "\1");
            set req.url = regsuball(req.url, "&{2,}", "&");
            set req.url = regsub(req.url, "\?&", "?");
            set req.url = regsub(req.url, "[?&]$", "");
        } else {
            set req.url = regsub(req.url, "\?.*$", "");
        }
        return (hash);
    }
    return (pass);
}

sub vcl_backend_fetch {
    set bereq.http.X-Beffroi-Edge = server.hostname;
}

sub vcl_backend_response {
    if (bereq.url ~ "^/hls/") {
        if (beresp.status != 200 && beresp.http.Cache-Control !~ "public") {
            # An error (a part late, a stream not live) is the origin's answer of the moment:
            # do not keep it, and do not make the next requests pass for long either. (A
            # part gone from the live window is a lasting answer: the origin lets it be
            # cached for a moment.)
            set beresp.uncacheable = true;
            set beresp.ttl = 1s;
            return (deliver);
        }
        if (bereq.url ~ "\.m3u8") {
            # A playlist is never served stale: a player asks for the next part anyway.
            set beresp.grace = 0s;
        } else if (beresp.ttl > 2m) {
            # Parts and segments leave the live window within a minute: keep memory for the
            # ones asked for now.
            set beresp.ttl = 2m;
        }
        unset beresp.http.Set-Cookie;
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
