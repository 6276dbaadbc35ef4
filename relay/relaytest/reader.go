package relaytest

import (
	"context"
	"testing"

	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// Subscribe returns a reader of st with the default options, closed when the test ends.
func Subscribe(t testing.TB, st *relay.Stream) *relay.Reader {
	t.Helper()
	r, err := st.Subscribe(relay.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Next returns r's next frame, failing the test if none comes within testutil.WaitTimeout or
// the reader ends.
func Next(t testing.TB, r *relay.Reader) *relay.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	f, err := r.Next(ctx)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	return f
}
