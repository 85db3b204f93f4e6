package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// room is one stream: the publisher's tracks re-sent by local tracks that every viewer binds,
// as Broadcast Box does (one TrackLocalStaticRTP per kind writes to all its bindings).
type room struct {
	video     *webrtc.TrackLocalStaticRTP
	audio     *webrtc.TrackLocalStaticRTP
	mu        sync.Mutex
	publisher *webrtc.PeerConnection
	videoSSRC uint32
}

type sfu struct {
	api   *webrtc.API
	mu    sync.Mutex
	rooms map[string]*room
	ids   atomic.Int64
}

func runSFU(args []string) error {
	fs := flag.NewFlagSet("sfu", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "HTTP address")
	ip := fs.String("ip", "127.0.0.1", "the only local address ICE may use")
	if err := fs.Parse(args); err != nil {
		return err
	}
	api, err := newAPI(*ip)
	if err != nil {
		return err
	}
	s := &sfu{api: api, rooms: map[string]*room{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/whip/", s.whip)
	mux.HandleFunc("/whep/", s.whep)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	server := &http.Server{Handler: mux}
	listener, err := listenTCP(*listen)
	if err != nil {
		return err
	}
	emit(map[string]interface{}{"event": "listening", "url": "http://" + listener.Addr().String()})
	return server.Serve(listener)
}

func (s *sfu) room(name string) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[name]; r != nil {
		return r, nil
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "pion-sfu")
	if err != nil {
		return nil, err
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "pion-sfu")
	if err != nil {
		return nil, err
	}
	r := &room{video: video, audio: audio}
	s.rooms[name] = r
	return r, nil
}

func streamName(path, prefix string) string {
	name := strings.TrimPrefix(path, prefix)
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i]
	}
	return name
}

// answer applies an offer, waits for gathering and writes the 201 with the answer.
func (s *sfu) answer(w http.ResponseWriter, pc *webrtc.PeerConnection, path string) {
	answer, err := pc.CreateAnswer(nil)
	if err == nil {
		done := webrtc.GatheringCompletePromise(pc)
		if err = pc.SetLocalDescription(answer); err == nil {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				err = fmt.Errorf("gathering timed out")
			}
		}
	}
	if err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", fmt.Sprintf("%s/%d", path, s.ids.Add(1)))
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

func closeOnFailure(pc *webrtc.PeerConnection) {
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateFailed || state == webrtc.PeerConnectionStateDisconnected {
			_ = pc.Close()
		}
	})
}

func readOffer(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an SDP offer", http.StatusMethodNotAllowed)
		return "", false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", false
	}
	return string(body), true
}

func (s *sfu) whip(w http.ResponseWriter, r *http.Request) {
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	rm, err := s.room(streamName(r.URL.Path, "/whip/"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	closeOnFailure(pc)
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		local := rm.audio
		if remote.Kind() == webrtc.RTPCodecTypeVideo {
			local = rm.video
			rm.mu.Lock()
			rm.videoSSRC = uint32(remote.SSRC())
			rm.mu.Unlock()
		}
		buf := make([]byte, 1500)
		for {
			n, _, err := remote.Read(buf)
			if err != nil {
				return
			}
			if _, err := local.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rm.mu.Lock()
	old := rm.publisher
	rm.publisher = pc
	rm.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	s.answer(w, pc, r.URL.Path)
}

func (s *sfu) whep(w http.ResponseWriter, r *http.Request) {
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	rm, err := s.room(streamName(r.URL.Path, "/whep/"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	closeOnFailure(pc)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		_ = pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, track := range []*webrtc.TrackLocalStaticRTP{rm.video, rm.audio} {
		sender, err := pc.AddTrack(track)
		if err != nil {
			_ = pc.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		go s.relayFeedback(rm, sender)
	}
	s.answer(w, pc, r.URL.Path)
}

// relayFeedback reads a viewer's RTCP (driving the NACK responder and report interceptors) and
// passes its key-frame requests to the publisher.
func (s *sfu) relayFeedback(rm *room, sender *webrtc.RTPSender) {
	for {
		packets, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, packet := range packets {
			switch packet.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				rm.mu.Lock()
				pub, ssrc := rm.publisher, rm.videoSSRC
				rm.mu.Unlock()
				if pub != nil && ssrc != 0 {
					_ = pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
				}
			}
		}
	}
}
