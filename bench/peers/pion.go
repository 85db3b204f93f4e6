package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v3"
)

// newAPI builds a Pion API as a browser-like endpoint has it: VP8 and Opus with NACK, PLI and
// transport-wide CC feedback, and the default interceptors (NACK generator and responder,
// sender and receiver reports, TWCC feedback every 100 ms). ICE gathers only `ip`, so no
// traffic ever leaves the host (loopback included, which Pion skips by default).
func newAPI(ip string) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	r := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, r); err != nil {
		return nil, err
	}
	s, err := settingEngine(ip)
	if err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r),
		webrtc.WithSettingEngine(s)), nil
}

// settingEngine gathers only `ip` over UDP, without mDNS.
func settingEngine(ip string) (webrtc.SettingEngine, error) {
	s := webrtc.SettingEngine{}
	want := net.ParseIP(ip)
	if want == nil {
		return s, fmt.Errorf("bad -ip %q", ip)
	}
	s.SetIncludeLoopbackCandidate(want.IsLoopback())
	s.SetIPFilter(func(candidate net.IP) bool { return candidate.Equal(want) })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(0) // ice.MulticastDNSModeDisabled
	return s, nil
}

// localOffer sets an offer and waits for gathering: WHIP/WHEP send every candidate at once.
func localOffer(pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("ICE gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// exchange POSTs an offer to a WHIP or WHEP endpoint and applies the answer.
func exchange(pc *webrtc.PeerConnection, url, token string) error {
	return exchangeSeeing(pc, url, token, nil)
}

// exchangeSeeing is exchange with a look at the answer before it is applied (a light viewer
// registers the server's addresses then: media may follow as soon as DTLS is up).
func exchangeSeeing(pc *webrtc.PeerConnection, url, token string, seeAnswer func(string)) error {
	sdp, err := localOffer(pc)
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", url, strings.NewReader(sdp))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, bytes.TrimSpace(body))
	}
	if seeAnswer != nil {
		seeAnswer(string(body))
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
