package whip

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// nackCounter counts the RTCP NACKs the publishers' peer connections send, by media SSRC,
// for the streams' network counters. It is an interceptor registered before pion's NACK
// generator, whose requests are then written through it. (pion's GetStats would say the
// same, but reads state that pion's own close writes without a lock.)
type nackCounter struct {
	mu     sync.Mutex
	bySSRC map[uint32]uint64
}

func newNACKCounter() *nackCounter { return &nackCounter{bySSRC: map[uint32]uint64{}} }

// NewInterceptor implements interceptor.Factory.
func (n *nackCounter) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackInterceptor{n: n}, nil
}

// count returns the NACKs sent about ssrc so far.
func (n *nackCounter) count(ssrc uint32) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bySSRC[ssrc]
}

// forget drops the count of an SSRC whose session ended.
func (n *nackCounter) forget(ssrc uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.bySSRC, ssrc)
}

type nackInterceptor struct {
	interceptor.NoOp
	n *nackCounter
}

// BindRTCPWriter counts the NACKs written through the returned writer.
func (i *nackInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, attr interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				i.n.mu.Lock()
				i.n.bySSRC[nack.MediaSSRC]++
				i.n.mu.Unlock()
			}
		}
		return w.Write(pkts, attr)
	})
}
