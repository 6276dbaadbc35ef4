package guard

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// LogPanic logs, on one line with its stack, the panic v that a connection's goroutine
// recovered: call it from the deferred function that called recover, which then closes that
// connection only. msg says what was running ("rtmp connection handler"). The caller cleans v
// of secrets first when it may hold some.
func LogPanic(log *slog.Logger, msg string, v any) {
	log.Error(msg+" panicked: connection closed, the server goes on",
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}
