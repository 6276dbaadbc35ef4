package manage

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultStream is the stream EnsureDefaultStream makes, so that a newcomer can go live in a
// minute.
const DefaultStream = "live"

// legacyKeyFile is where an older Beffroi kept the default stream's publish key, in the data
// directory.
const legacyKeyFile = "live.key"

// EnsureDefaultStream makes the stream "live" in st when st holds no stream at all. A key kept
// in dataDir/live.key by an older Beffroi is taken over (and the file removed); otherwise a
// new key is made and its publish URL (publishURL(key), nil: none) logged once, since the key
// is never shown again. Call it when the configuration file declares no stream.
func EnsureDefaultStream(ctx context.Context, st Store, dataDir string, log *slog.Logger, publishURL func(key string) string) error {
	l, err := st.ListStreams(ctx)
	if err != nil || len(l) > 0 {
		return err
	}
	path := filepath.Join(dataDir, legacyKeyFile)
	key := NewKey()
	old, err := os.ReadFile(path)
	kept := err == nil && len(strings.TrimSpace(string(old))) > 0
	if kept {
		key = strings.TrimSpace(string(old))
	}
	if err := st.CreateStream(ctx, Stream{Name: DefaultStream, PublishKey: key, Created: time.Now().UTC()}); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if kept {
		_ = os.Remove(path)
		log.Info("no stream configured: using the stream \"" + DefaultStream + "\" (its publish key, from " + path + ", is now in the database)")
		return nil
	}
	if u := ""; publishURL != nil {
		if u = publishURL(key); u != "" {
			log.Info("no stream yet: made the stream \""+DefaultStream+"\"; this publish URL is shown once, keep it (or rotate the key in the console)", "publish_url", u)
			return nil
		}
	}
	log.Info("no stream yet: made the stream \"" + DefaultStream + "\"; its publish key and addresses are in the console (rotate the key there to see them)")
	return nil
}
