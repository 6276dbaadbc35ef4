package srt

import (
	"errors"
	"net"
	"strings"
	"testing"

	gosrt "github.com/datarhei/gosrt"

	"github.com/beffroi/beffroi/ingest/internal/guard"
	"github.com/beffroi/beffroi/internal/testutil"
	"github.com/beffroi/beffroi/relay"
)

// fakeRequest is an SRT connection request as gosrt hands it over, with a stranger's stream
// id; it records how the server answered.
type fakeRequest struct {
	id         string
	encrypted  bool
	answers    int
	rejectedBy gosrt.RejectionReason
	accepted   bool
}

func (r *fakeRequest) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (r *fakeRequest) Version() uint32                          { return 5 }
func (r *fakeRequest) StreamId() string                         { return r.id }
func (r *fakeRequest) SocketId() uint32                         { return 1 }
func (r *fakeRequest) PeerSocketId() uint32                     { return 2 }
func (r *fakeRequest) IsEncrypted() bool                        { return r.encrypted }
func (r *fakeRequest) SetPassphrase(string) error               { return errors.New("wrong passphrase") }
func (r *fakeRequest) SetRejectionReason(gosrt.RejectionReason) {}
func (r *fakeRequest) Reject(reason gosrt.RejectionReason) {
	r.answers++
	r.rejectedBy = reason
}

// Accept fails: the fuzz target stops where the server would start reading media.
func (r *fakeRequest) Accept() (gosrt.Conn, error) {
	r.answers++
	r.accepted = true
	return nil, errors.New("not in this test")
}

var _ gosrt.ConnRequest = (*fakeRequest)(nil)

// FuzzAccept runs the server's decision on a connection request (limiter, stream id,
// passphrase, key) over strangers' stream ids, seeded by the parser's table: every request
// is answered once, only the right key of the stream it names gets as far as Accept, and no
// log line holds a key.
func FuzzAccept(f *testing.F) {
	for _, tt := range streamIDTests {
		f.Add(tt.id, false)
	}
	f.Add("publish:"+streamName+":"+publishKey, false)
	f.Add("#!::r="+streamName+",m=publish,s="+publishKey, false)
	f.Add("publish:"+streamName+":"+otherKey, false)
	f.Add("publish:"+streamName+":"+publishKey, true)
	f.Fuzz(func(t *testing.T, id string, encrypted bool) {
		logs := &testutil.LogBuffer{}
		reg := relay.NewRegistry(relay.RegistryOptions{})
		defer reg.StopAll()
		for _, s := range [][2]string{{streamName, publishKey}, {otherStream, otherKey}} {
			if _, err := reg.Add(s[0], s[1]); err != nil {
				t.Fatal(err)
			}
		}
		s := &Server{Registry: reg, Logger: logs.Logger()}
		s.keys = guard.NewFailures(logs.Logger(), guard.Limits{})
		req := &fakeRequest{id: id, encrypted: encrypted}
		if conn, _, _, _ := s.accept(req); conn != nil {
			t.Fatal("a connection without an accepted request")
		}
		if req.answers != 1 {
			t.Fatalf("stream id %q: answered %d times", id, req.answers)
		}
		name, key, err := parseStreamID(id)
		right := err == nil && !encrypted && ((name == streamName && key == publishKey) || (name == otherStream && key == otherKey))
		if req.accepted != right {
			t.Fatalf("stream id %q (encrypted %v): accepted %v", id, encrypted, req.accepted)
		}
		if !req.accepted && req.rejectedBy == 0 {
			t.Fatalf("stream id %q: rejected without a reason", id)
		}
		out := logs.String()
		testutil.AssertNoSecret(t, "the log", out, publishKey, otherKey)
		if err == nil && len(key) >= 12 && !strings.Contains(key, " ") && !strings.ContainsAny(key, "=\"<") {
			testutil.AssertNoSecret(t, "the log", out, key)
		}
	})
}
