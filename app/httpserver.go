package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/beffroi/beffroi/config"
	"github.com/beffroi/beffroi/internal/clientip"
)

// readHeaderTimeout is how long a client may take to send a request's headers.
const readHeaderTimeout = 10 * time.Second

// httpServer is the one HTTP server around h, with the limits of the configuration: the
// client's address behind a trusted proxy, a deadline on request bodies, an idle limit on
// keep-alive connections. The connection cap is on the listener (limitListener).
func httpServer(c config.HTTP, h http.Handler, log *slog.Logger) (*http.Server, error) {
	trusted, err := clientip.ParsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	return &http.Server{
		// clientip is outermost: every handler (login limits, audit, per-address caps) sees
		// the client's address, and nothing else reads forwarded headers.
		Handler:           clientip.Middleware(trusted, bodyDeadline(c.BodyTimeout, h)),
		ReadHeaderTimeout: readHeaderTimeout,
		// No ReadTimeout: its deadline, set before the handler runs, stays on hijacked
		// websocket connections, and bodies have their own (bodyDeadline). No WriteTimeout:
		// it would end LL-HLS blocking reloads, which answer seconds later, and downloads
		// of replays.
		IdleTimeout: c.IdleTimeout,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, nil
}

// limitListener caps the connections open at once (http.max_connections): past it, new
// connections wait in the kernel's backlog until one closes, as nginx's worker_connections.
func limitListener(l net.Listener, n int) net.Listener {
	if n <= 0 {
		return l
	}
	return netutil.LimitListener(l, n)
}

// bodyDeadline gives a request that has a body (a login, a WHIP/WHEP offer or PATCH, a
// beacon, an API write) timeout to send all of it: a client that trickles its body (a
// slowloris) is cut then. Requests without a body (LL-HLS blocking reloads, the websocket's
// upgrade) get no deadline. Once the body is read to its end the deadline is lifted, so a
// handler that works longer than timeout after reading (a WHIP answer gathering candidates)
// is not cancelled by the connection's background read timing out.
func bodyDeadline(timeout time.Duration, next http.Handler) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			// Not a connection of ours (a test's recorder, HTTP/2): serve as is.
			next.ServeHTTP(w, r)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline once the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
