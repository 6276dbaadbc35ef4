package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// viewer is one WHEP player: a pion PeerConnection receiving video and audio, counting what
// arrives and dropping it.
type viewer struct {
	pc       *webrtc.PeerConnection
	location string
	bytes    atomic.Int64
	frames   atomic.Int64 // video frames (RTP marker bits)
}

// viewerAPI is the pion API every simulated viewer uses (loopback, UDP).
func viewerAPI() *webrtc.API {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		panic(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

func newViewer(ctx context.Context, api *webrtc.API, url string) (*viewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &viewer{pc: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1600)
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			v.bytes.Add(int64(n))
			if video && n > 1 && buf[1]&0x80 != 0 { // RTP marker bit: the end of a frame
				v.frames.Add(1)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		v.close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		v.close()
		return nil, err
	}
	<-gathered
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.close()
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		v.close()
		return nil, fmt.Errorf("POST: %s: %s", resp.Status, body)
	}
	v.location = strings.TrimSuffix(url, "/whep/"+streamName) + resp.Header.Get("Location")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		v.close()
		return nil, err
	}
	select {
	case <-connected:
		return v, nil
	case <-time.After(15 * time.Second):
		v.close()
		return nil, errors.New("not connected after 15 s")
	case <-ctx.Done():
		v.close()
		return nil, ctx.Err()
	}
}

func (v *viewer) close() {
	if v.location != "" {
		req, _ := http.NewRequest(http.MethodDelete, v.location, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	_ = v.pc.Close()
}
