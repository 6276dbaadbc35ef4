// Package rtctest makes pion peers on loopback for the tests of the WebRTC packages
// (ingest/whip, outputs/whep, outputs/whip) and the WebRTC profiling harness. Only _test.go
// files and bench/ import it, and it imports no package of this module.
package rtctest

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// API returns a pion API whose peers gather loopback candidates only ("lo"), on networks
// (default: UDP over IPv4), with pion's default interceptors. register chooses the codecs;
// nil means pion's defaults, which list VP8 before H.264 as Chromium does.
func API(t testing.TB, register func(*webrtc.MediaEngine) error, networks ...webrtc.NetworkType) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if register == nil {
		register = (*webrtc.MediaEngine).RegisterDefaultCodecs
	}
	if err := register(me); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	if len(networks) == 0 {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes(networks)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// PeerConnection returns a peer connection of api, closed when the test ends.
func PeerConnection(t testing.TB, api *webrtc.API) *webrtc.PeerConnection {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// Offer makes pc's offer its local description and returns it once every candidate is in it
// (WHIP and WHEP exchange one offer, no trickle).
func Offer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-done
	return pc.LocalDescription().SDP
}
