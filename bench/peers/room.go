package main

// `quetzal-peers room`: participants of one Quetzal room over the room signalling
// (docs/signalling.md: a WebSocket at /rooms/{id}/signal, JSON messages), each with a publish
// connection it offers on and a subscribe connection the server offers on, as the browser SDK
// has them. Speakers publish a microphone (50 packets/s with the RFC 6464 audio level) and,
// with -video, a three-layer simulcast camera (rids q/h/f at 150 kbit/s, 500 kbit/s and
// 1.7 Mbit/s, 30 frames/s, a key frame every 2 s or on a PLI, the shapes of the bench's
// meeting case); listeners only receive. Subscribers send what a browser sends (receiver
// reports, NACKs, transport-wide CC every 100 ms, a PLI when a video track starts).
//
// Every payload carries its send time, its packet index, its publisher and its layer, so the
// result counts what each subscriber received of what was sent in the window.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
	"golang.org/x/net/websocket"
)

const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// roomLayer is one simulcast encoding: a frame is `packets` packets of `bytes` payload bytes
// (the meeting case's shapes: bitrate / 30 frames/s, at most 1150 bytes a packet).
type roomLayer struct {
	rid           string
	width, height uint16
	packets       int
	bytes         int
}

var roomLayers = []roomLayer{
	{"q", 320, 180, 1, 625},
	{"h", 640, 360, 2, 1042},
	{"f", 1280, 720, 7, 1012},
}

const (
	roomFPS       = 30
	roomAudioPps  = 50
	roomAudioSize = 100
	// Stamp: send time (8), packet index (4), publisher (2), layer (1).
	roomStampLen = 15
	// Video stamps sit after the VP8 descriptor and key-frame header (11 bytes).
	roomVideoStampAt = 12
	// Packet indexes count from each publisher's start: room for 15 minutes of packets.
	roomHorizon = 15 * 60
)

// The counted window (send times), shared by every participant.
var roomWindowStart, roomWindowEnd atomic.Int64

// roomMediaEngine has the codecs and header extensions the server negotiates, without
// transport-wide CC (roomAPI adds Pion's interceptor for it, socketTWCCAPI its own).
func roomMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	for _, ext := range []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{audioLevelURI, webrtc.RTPCodecTypeAudio},
	} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext.uri}, ext.kind); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func roomAPI(ip string) (*webrtc.API, error) {
	m, err := roomMediaEngine()
	if err != nil {
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

// ---- signalling ----

type signal struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	nextID int
	mu     sync.Mutex
	// Answers by request id.
	waiting map[int]chan map[string]interface{}
}

func dialSignal(base, room string) (*signal, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	ws, err := websocket.Dial(scheme+"://"+u.Host+"/rooms/"+room+"/signal", "", base)
	if err != nil {
		return nil, err
	}
	return &signal{ws: ws, waiting: map[int]chan map[string]interface{}{}}, nil
}

func (s *signal) send(m map[string]interface{}) error {
	m["v"] = 1
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return websocket.Message.Send(s.ws, string(b))
}

// request sends m with a fresh id and waits for the message answering it.
func (s *signal) request(m map[string]interface{}, timeout time.Duration) (map[string]interface{}, error) {
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	ch := make(chan map[string]interface{}, 1)
	s.waiting[id] = ch
	s.mu.Unlock()
	m["id"] = id
	if err := s.send(m); err != nil {
		return nil, err
	}
	select {
	case reply := <-ch:
		return reply, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no answer to %v in %s", m["t"], timeout)
	}
}

// read delivers answers to their requests and events to onEvent, one at a time, until the
// socket closes.
func (s *signal) read(onEvent func(map[string]interface{})) error {
	for {
		var text string
		if err := websocket.Message.Receive(s.ws, &text); err != nil {
			return err
		}
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			continue
		}
		if re, ok := m["re"].(float64); ok {
			s.mu.Lock()
			ch := s.waiting[int(re)]
			delete(s.waiting, int(re))
			s.mu.Unlock()
			if ch != nil {
				ch <- m
				continue
			}
		}
		onEvent(m)
	}
}

func refused(m map[string]interface{}) error {
	b, _ := json.Marshal(m)
	return fmt.Errorf("refused: %s", b)
}

// ---- participants ----

// pairStats is what one subscriber received of one publisher.
type pairStats struct {
	layers [3][]uint64 // packet-index bitmaps per video layer
	audio  []uint64
}

type roomParticipant struct {
	index   int
	speaker bool
	video   bool
	level   uint8 // RFC 6464 level of its microphone (0 loudest .. 127 silent)
	sig     *signal
	self    string
	sub     *webrtc.PeerConnection
	pub     *webrtc.PeerConnection
	// With -socket-twcc: the participant's own API and its socket-stamped TWCC feedback.
	api  *webrtc.API
	twcc *socketTWCC
	// A light listener's counters and shared socket (light.go); nil for full participants.
	light     *lightListener
	lightSock *lightSocket

	subConnected atomic.Bool
	pubConnected atomic.Bool
	pubState     atomic.Value
	subState     atomic.Value
	settled      chan struct{}
	refusal      atomic.Value // the server's error for the subscribe connection, if any
	settle       sync.Once
	answerMu     sync.Mutex
	offers       atomic.Int32

	mu      sync.Mutex
	pairs   map[uint16]*pairStats
	hist    []uint32
	dup     int
	bad     int
	padding int

	// Publishing.
	frame      atomic.Uint32 // frames sent on every layer
	audioIndex atomic.Uint32
	keyframe   [3]atomic.Bool
	plis       atomic.Int64
	stop       atomic.Bool
	closed     atomic.Bool
}

func (p *roomParticipant) markSettled() { p.settle.Do(func() { close(p.settled) }) }

// join opens the socket, joins, answers subscribe offers, and for speakers publishes.
func (p *roomParticipant) join(api *webrtc.API, base, room, token string) error {
	if p.api != nil {
		api = p.api
	}
	sig, err := dialSignal(base, room)
	if err != nil {
		return fmt.Errorf("websocket: %w", err)
	}
	p.sig = sig
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	p.sub = sub
	if p.twcc != nil {
		go p.twcc.run(sub, p.closed.Load)
	}
	sub.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.onTrack(track) })
	sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.subConnected.Store(s == webrtc.PeerConnectionStateConnected)
		p.subState.Store(s.String())
		if s == webrtc.PeerConnectionStateConnected && (!p.speaker || p.pubConnected.Load()) {
			p.markSettled()
		}
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			p.markSettled()
		}
	})
	events := make(chan map[string]interface{}, 64)
	go func() {
		_ = sig.read(func(m map[string]interface{}) {
			switch m["t"] {
			case "offer":
				events <- m
			case "error":
				// The server could not create the subscribe connection (e.g. over-capacity):
				// no offer will come, so the participant is failed now, with the reason.
				if m["about"] == "offer" {
					p.refusal.CompareAndSwap(nil, refused(m).Error())
					p.markSettled()
				}
			}
		})
		close(events)
	}()
	// Subscribe offers are answered in order, one at a time (the server sends the next only
	// after the answer to the last).
	go func() {
		for m := range events {
			if err := p.answer(m); err != nil && !p.closed.Load() {
				emit(map[string]interface{}{"event": "warning", "participant": p.index, "error": err.Error()})
			}
		}
	}()
	joined, err := sig.request(map[string]interface{}{"t": "join", "token": token,
		"name": fmt.Sprintf("bench-%d", p.index)}, 30*time.Second)
	if err != nil {
		return err
	}
	if joined["t"] != "joined" {
		return refused(joined)
	}
	if self, ok := joined["self"].(map[string]interface{}); ok {
		p.self, _ = self["id"].(string)
	}
	if p.speaker {
		if err := p.publish(api); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

func (p *roomParticipant) answer(m map[string]interface{}) error {
	p.answerMu.Lock()
	defer p.answerMu.Unlock()
	sdpText, _ := m["sdp"].(string)
	rev := m["rev"]
	if p.twcc != nil {
		p.twcc.setRemote(sdpText)
	}
	if p.light != nil {
		// Before the offer is applied: the server may send media as soon as DTLS is up.
		p.lightSock.register(sdpText, p.light)
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdpText}); err != nil {
		return fmt.Errorf("subscribe offer: %w", err)
	}
	answer, err := p.sub.CreateAnswer(nil)
	if err != nil {
		return err
	}
	done := webrtc.GatheringCompletePromise(p.sub)
	if err := p.sub.SetLocalDescription(answer); err != nil {
		return err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return errors.New("ICE gathering timed out")
	}
	p.offers.Add(1)
	return p.sig.send(map[string]interface{}{"t": "answer", "pc": "sub", "rev": rev,
		"sdp": p.sub.LocalDescription().SDP})
}

func (p *roomParticipant) onTrack(track *webrtc.TrackRemote) {
	isVideo := track.Kind() == webrtc.RTPCodecTypeVideo
	if isVideo {
		// A browser asks for a key frame when its decoder starts.
		_ = p.sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
	}
	buf := make([]byte, 1600)
	var h rtp.Header
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		at := now()
		hn, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		at0 := roomVideoStampAt
		if !isVideo {
			at0 = 0
		}
		payload := buf[hn:n]
		if h.Padding && len(payload) > 0 {
			// Bandwidth probes are padding-only packets: counted apart, not as media.
			payload = payload[:len(payload)-int(payload[len(payload)-1])%(len(payload)+1)]
		}
		if len(payload) < at0+roomStampLen {
			if len(payload) == 0 {
				p.mu.Lock()
				p.padding++
				p.mu.Unlock()
			}
			continue
		}
		stamp := payload[at0:]
		sent := int64(binary.BigEndian.Uint64(stamp))
		idx := binary.BigEndian.Uint32(stamp[8:])
		from := binary.BigEndian.Uint16(stamp[12:])
		layer := stamp[14]
		p.mu.Lock()
		pair := p.pairs[from]
		if pair == nil {
			pair = &pairStats{}
			p.pairs[from] = pair
		}
		var bits *[]uint64
		var capacity int
		if isVideo && layer < 3 {
			bits = &pair.layers[layer]
			capacity = roomHorizon * roomFPS * roomLayers[layer].packets
		} else if !isVideo {
			bits = &pair.audio
			capacity = roomHorizon * roomAudioPps
		}
		if bits == nil {
			p.bad++
			p.mu.Unlock()
			continue
		}
		if *bits == nil {
			*bits = make([]uint64, capacity/64+1)
		}
		word, bit := idx/64, uint64(1)<<(idx%64)
		if int(word) < len(*bits) {
			if (*bits)[word]&bit != 0 {
				p.dup++
			} else {
				(*bits)[word] |= bit
				if sent >= roomWindowStart.Load() && sent < roomWindowEnd.Load() {
					p.hist[bucketOf(at-sent)]++
				}
			}
		}
		p.mu.Unlock()
	}
}

// publish offers the publish connection: a microphone, and with -video a simulcast camera.
func (p *roomParticipant) publish(api *webrtc.API) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	p.pub = pc
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.pubConnected.Store(s == webrtc.PeerConnectionStateConnected)
		p.pubState.Store(s.String())
		if s == webrtc.PeerConnectionStateConnected && p.subConnected.Load() {
			p.markSettled()
		}
		if s == webrtc.PeerConnectionStateFailed {
			p.markSettled()
		}
	})
	stream := fmt.Sprintf("p%d", p.index)
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", stream)
	if err != nil {
		return err
	}
	mic, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	go drainRTCP(mic.Sender(), "", nil)
	var cam *webrtc.RTPTransceiver
	var layers []*webrtc.TrackLocalStaticRTP
	if p.video {
		for _, l := range roomLayers {
			t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", stream, webrtc.WithRTPStreamID(l.rid))
			if err != nil {
				return err
			}
			layers = append(layers, t)
		}
		cam, err = pc.AddTransceiverFromTrack(layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		for _, t := range layers[1:] {
			if err := cam.Sender().AddEncoding(t); err != nil {
				return err
			}
		}
	}
	offer, err := localOffer(pc)
	if err != nil {
		return err
	}
	sources := map[string]interface{}{mic.Mid(): "microphone"}
	if cam != nil {
		sources[cam.Mid()] = "camera"
	}
	reply, err := p.sig.request(map[string]interface{}{"t": "offer", "pc": "pub", "sdp": offer, "sources": sources}, 30*time.Second)
	if err != nil {
		return err
	}
	if reply["t"] != "answer" {
		return refused(reply)
	}
	answer, _ := reply["sdp"].(string)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	if cam != nil {
		for i, l := range roomLayers {
			i := i
			go drainRTCP(cam.Sender(), l.rid, func() { p.plis.Add(1); p.keyframe[i].Store(true) })
		}
	}
	go p.send(mic, audio, cam, layers)
	return nil
}

// drainRTCP reads a sender's RTCP (driving its interceptors) and calls onKeyframe on PLI/FIR.
func drainRTCP(sender *webrtc.RTPSender, rid string, onKeyframe func()) {
	for {
		var packets []rtcp.Packet
		var err error
		if rid == "" {
			packets, _, err = sender.ReadRTCP()
		} else {
			packets, _, err = sender.ReadSimulcastRTCP(rid)
		}
		if err != nil {
			return
		}
		for _, packet := range packets {
			switch packet.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if onKeyframe != nil {
					onKeyframe()
				}
			}
		}
	}
}

func extensionID(sender *webrtc.RTPSender, uri string) uint8 {
	for _, e := range sender.GetParameters().HeaderExtensions {
		if e.URI == uri {
			return uint8(e.ID)
		}
	}
	return 0
}

// send paces the microphone (one packet every 20 ms) and the camera (a frame on every layer
// every 1/30 s), on a 5 ms ticker.
func (p *roomParticipant) send(mic *webrtc.RTPTransceiver, audio *webrtc.TrackLocalStaticRTP,
	cam *webrtc.RTPTransceiver, layers []*webrtc.TrackLocalStaticRTP) {
	audioMid := []byte(mic.Mid())
	audioMidID := extensionID(mic.Sender(), sdp.SDESMidURI)
	levelID := extensionID(mic.Sender(), audioLevelURI)
	var videoMid []byte
	var videoMidID, ridID uint8
	if cam != nil {
		videoMid = []byte(cam.Mid())
		videoMidID = extensionID(cam.Sender(), sdp.SDESMidURI)
		ridID = extensionID(cam.Sender(), sdp.SDESRTPStreamIDURI)
	}
	audioBuf := make([]byte, roomAudioSize)
	videoBufs := make([][]byte, len(roomLayers))
	for i, l := range roomLayers {
		videoBufs[i] = make([]byte, l.bytes)
	}
	var aseq uint16
	var vseq [3]uint16
	var ats, vts uint32
	var audioSent, framesSent int64
	start := time.Now()
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	level := []byte{0x80 | p.level} // V=1: voice
	for range ticker.C {
		if p.stop.Load() {
			return
		}
		elapsed := time.Since(start).Seconds()
		for float64(audioSent) < elapsed*roomAudioPps {
			idx := p.audioIndex.Load()
			stampRoom(audioBuf, now(), idx, uint16(p.index), 0)
			h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: aseq, Timestamp: ats}
			if audioMidID != 0 {
				_ = h.SetExtension(audioMidID, audioMid)
			}
			if levelID != 0 {
				_ = h.SetExtension(levelID, level)
			}
			_ = audio.WriteRTP(&rtp.Packet{Header: h, Payload: audioBuf})
			p.audioIndex.Store(idx + 1)
			aseq++
			ats += 960
			audioSent++
		}
		for cam != nil && float64(framesSent) < elapsed*roomFPS {
			frame := p.frame.Load()
			for li, l := range roomLayers {
				key := frame%(2*roomFPS) == 0 || p.keyframe[li].Swap(false)
				buf := videoBufs[li]
				for k := 0; k < l.packets; k++ {
					for i := 0; i < roomVideoStampAt; i++ {
						buf[i] = 0
					}
					if k == 0 {
						buf[0] = 0x10 // VP8 descriptor: S=1, partition 0
						if key {
							buf[1] = 0x00 // P=0: key frame, then its start code and size
							buf[4], buf[5], buf[6] = 0x9d, 0x01, 0x2a
							binary.LittleEndian.PutUint16(buf[7:], l.width)
							binary.LittleEndian.PutUint16(buf[9:], l.height)
						} else {
							buf[1] = 0x01 // P=1: inter frame
						}
					}
					stampRoom(buf[roomVideoStampAt:], now(), frame*uint32(l.packets)+uint32(k), uint16(p.index), uint8(li))
					h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: vseq[li], Timestamp: vts,
						Marker: k == l.packets-1}
					if videoMidID != 0 {
						_ = h.SetExtension(videoMidID, videoMid)
					}
					if ridID != 0 {
						_ = h.SetExtension(ridID, []byte(l.rid))
					}
					_ = layers[li].WriteRTP(&rtp.Packet{Header: h, Payload: buf})
					vseq[li]++
				}
			}
			p.frame.Store(frame + 1)
			vts += 90000 / roomFPS
			framesSent++
		}
	}
}

func stampRoom(b []byte, sent int64, idx uint32, from uint16, layer uint8) {
	binary.BigEndian.PutUint64(b, uint64(sent))
	binary.BigEndian.PutUint32(b[8:], idx)
	binary.BigEndian.PutUint16(b[12:], from)
	b[14] = layer
}

func (p *roomParticipant) close() {
	p.closed.Store(true)
	p.stop.Store(true)
	if p.sig != nil {
		_ = p.sig.send(map[string]interface{}{"t": "leave"})
		_ = p.sig.ws.Close()
	}
	if p.pub != nil {
		_ = p.pub.Close()
	}
	if p.sub != nil {
		_ = p.sub.Close()
	}
}

// ---- the run ----

func runRoom(args []string) error {
	fs := flag.NewFlagSet("room", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL")
	room := fs.String("room", "", "room id (POST /api/rooms)")
	speakerToken := fs.String("speaker-token", "", "the room's speaker token")
	listenerToken := fs.String("listener-token", "", "the room's listener token")
	ip := fs.String("ip", "127.0.0.1", "the only local address ICE may use")
	speakers := fs.Int("speakers", 5, "participants that publish (and receive)")
	video := fs.Bool("video", false, "speakers also publish a 3-layer simulcast camera")
	listeners := fs.Int("listeners", 0, "participants that only receive")
	fullListeners := fs.Int("full-listeners", 40, "listeners that are full Pion receivers (decrypt, latency, RTCP feedback); the others are light (light.go: real signalling, ICE and DTLS, media counted from the clear RTP header); -1: all")
	slots := fs.Int("audio-slots", 3, "the room's audio slots")
	warmup := fs.Duration("warmup", 5*time.Second, "time between the last participant connecting and the window")
	window := fs.Duration("window", 10*time.Second, "measured window")
	parallel := fs.Int("parallel", 4, "participants joining at once")
	lightSockets := fs.String("light-sockets", "shared", "shared: every light listener's connections on one UDP socket (cheapest for the generator); own: a socket each, as browsers have, which a server on one shared port (--rtc-port) needs: it tells clients apart by their address")
	breakSubs := fs.Int("break-subscribers", 0, "this many listeners close their subscribe connection once up, keeping their socket (a crashed tab's peer): the others must not notice")
	socketStamps := fs.Bool("socket-twcc", true, "transport-wide CC arrival times stamped at the socket read, as browsers do (socket_twcc.go); false: Pion's interceptor, which stamps at the track read")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile over the window to this file (go tool pprof)")
	detail := fs.Bool("detail", false, "per pair video counts in the result (received, expected, per-layer packets)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *room == "" || *speakerToken == "" || (*listeners > 0 && *listenerToken == "") {
		return errors.New("-room, -speaker-token (and -listener-token with listeners) are required")
	}
	roomWindowStart.Store(math.MaxInt64)
	roomWindowEnd.Store(math.MaxInt64)
	api, err := roomAPI(*ip)
	if err != nil {
		return err
	}
	full := *listeners
	if *fullListeners >= 0 && *fullListeners < full {
		full = *fullListeners
	}
	var sock *lightSocket
	var lightAPIs *webrtc.API
	ownSockets := *lightSockets == "own"
	if *lightSockets != "own" && *lightSockets != "shared" {
		return fmt.Errorf("-light-sockets: expected shared or own, got %q", *lightSockets)
	}
	if full < *listeners && !ownSockets {
		if sock, err = newLightSocket(*ip); err != nil {
			return err
		}
		defer sock.Close()
		if lightAPIs, err = lightAPI(*ip, sock); err != nil {
			return err
		}
	}
	total := *speakers + *listeners
	all := make([]*roomParticipant, total)
	var lights []*lightListener
	for i := range all {
		speaker := i < *speakers
		// Distinct, steady levels (all above the server's voice threshold): the loudest
		// speakers hold the audio slots, so who hears whom is known and nobody's slot churns.
		all[i] = &roomParticipant{index: i, speaker: speaker, video: speaker && *video,
			level: uint8(10 + i%20), settled: make(chan struct{}), pairs: map[uint16]*pairStats{},
			hist: make([]uint32, fineBuckets+coarseBuckets)}
		// The first `full` listeners are full receivers, the rest light.
		if i >= *speakers+full {
			all[i].light = &lightListener{streams: map[uint32]*seqCount{}}
			all[i].lightSock = sock
			if ownSockets {
				own, err := newLightSocket(*ip)
				if err != nil {
					return err
				}
				defer own.Close()
				// One listener's 150 packets/s: a 50 ms pace reads about 8 per wakeup, so a
				// thousand sockets cost the generator about 20,000 wakeups a second, not 150,000.
				// Measured at 1,000 listeners: 20 ms, 4.3 per read and 4.7 µs of generator CPU per
				// packet; 50 ms, 8.1 and 4.0 µs; 100 ms, 15.6 and 3.7 µs, but late joiners' DTLS
				// handshakes failed (11 of 1,005) on the saturated machine.
				own.pace = 50 * time.Millisecond
				all[i].lightSock = own
				if all[i].api, err = lightAPI(*ip, own); err != nil {
					return err
				}
			}
			lights = append(lights, all[i].light)
		} else if *socketStamps {
			all[i].twcc = newSocketTWCC()
			if all[i].api, err = socketTWCCAPI(*ip, all[i].twcc); err != nil {
				return err
			}
		}
	}
	defer func() {
		for _, p := range all {
			p.close()
		}
	}()
	// Speakers first (in order), then listeners, at most -parallel joining at once.
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	var failures atomic.Int32
	var firstError atomic.Value
	t0 := time.Now()
	for _, p := range all {
		p := p
		token := *speakerToken
		if !p.speaker {
			token = *listenerToken
		}
		pAPI := api
		if p.light != nil && lightAPIs != nil {
			pAPI = lightAPIs
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := p.join(pAPI, *base, *room, token); err != nil {
				failures.Add(1)
				firstError.CompareAndSwap(nil, fmt.Sprintf("participant %d: %s", p.index, err))
				p.markSettled()
				return
			}
			select {
			case <-p.settled:
			case <-time.After(30 * time.Second):
			}
		}()
	}
	wg.Wait()
	refusals := 0
	for _, p := range all {
		if e := p.refusal.Load(); e != nil {
			refusals++
			firstError.CompareAndSwap(nil, fmt.Sprintf("participant %d: %s", p.index, e))
		}
	}
	connected := 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		connected = 0
		for _, p := range all {
			if p.subConnected.Load() && (!p.speaker || p.pubConnected.Load()) {
				connected++
			}
		}
		if connected+int(failures.Load())+refusals >= total {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var notConnected []int // the first few, for the log
	for _, p := range all {
		if len(notConnected) < 20 && !(p.subConnected.Load() && (!p.speaker || p.pubConnected.Load())) {
			notConnected = append(notConnected, p.index)
		}
	}
	ev := map[string]interface{}{"event": "participants-connected", "connected": connected,
		"not_connected": notConnected,
		"failed":        failures.Load(), "subscribe_refused": refusals, "states": roomStates(all),
		"join_s": time.Since(t0).Seconds()}
	if e := firstError.Load(); e != nil {
		ev["error"] = e
	}
	emit(ev)
	for i := *speakers; i < total && i < *speakers+*breakSubs; i++ {
		_ = all[i].sub.Close()
	}
	time.Sleep(*warmup)

	stopProfile, err := startProfile(*cpuProfile)
	if err != nil {
		return err
	}
	cpu0 := cpuSeconds()
	roomWindowStart.Store(now())
	f0, a0 := publisherCounters(all, *speakers)
	emit(map[string]interface{}{"event": "window-start"})
	time.Sleep(*window)
	f1, a1 := publisherCounters(all, *speakers)
	roomWindowEnd.Store(now())
	cpu1 := cpuSeconds()
	stopProfile()
	emit(map[string]interface{}{"event": "window-end"})
	// Late packets (and NACK repairs) of the window still count.
	time.Sleep(time.Second)
	for _, p := range all {
		p.stop.Store(true)
	}

	result := roomResult(all, *speakers, *video, *slots, *detail, f0, f1, a0, a1)
	var socks []*lightSocket
	for _, p := range all {
		if p.lightSock != nil && (len(socks) == 0 || socks[len(socks)-1] != p.lightSock) {
			socks = append(socks, p.lightSock)
		}
	}
	addLightResult(result, lights, socks, *speakers, *slots, a0, a1)
	result["full_listeners"] = full
	result["light_listeners"] = len(lights)
	result["event"] = "result"
	result["connected"] = connected
	result["window_s"] = window.Seconds()
	result["load_cpu_s"] = cpu1 - cpu0
	// The generator's own cost per packet it received (every subscriber, light and full, and
	// the speakers' sending too): it must stay well below the server's for the row to measure
	// the server.
	if rx, _ := result["received_packets"].(int64); rx > 0 {
		result["load_us_per_received_packet"] = (cpu1 - cpu0) * 1e6 / float64(rx)
	}
	var plis int64
	for _, p := range all {
		plis += p.plis.Load()
	}
	result["publisher_plis"] = plis
	// Connection states after the window: a peer that dropped during the run shows here.
	result["subscriber_states"] = roomStates(all)
	pubStates := map[string]int{}
	for _, p := range all[:*speakers] {
		s, _ := p.pubState.Load().(string)
		if s == "" {
			s = "none"
		}
		pubStates[s]++
	}
	result["publisher_states"] = pubStates
	emit(result)
	return nil
}

func publisherCounters(all []*roomParticipant, speakers int) (frames, audio []uint32) {
	frames = make([]uint32, speakers)
	audio = make([]uint32, speakers)
	for i := 0; i < speakers; i++ {
		frames[i] = all[i].frame.Load()
		audio[i] = all[i].audioIndex.Load()
	}
	return
}

// roomResult counts, per subscriber, what it received of what was sent in the window:
//
//   - audio: the voices it should hear are the `slots` loudest other speakers (levels are
//     fixed, so the slots are steady); every audio packet received in the window counts;
//   - video, per (subscriber, publisher) and frame: the layer the subscriber got the largest
//     share of that frame on is the one it was on (the allocator may switch layers); a frame
//     of which nothing came is charged at the layer of the frame before (for a pair that got
//     no video at all: the layer most pairs were on). Delivered is the packets received of
//     those layers over the packets the layers had.
//
// Forwarded packets are every packet received that was sent in the window, on any layer.
func roomResult(all []*roomParticipant, speakers int, video bool, slots int, detail bool,
	f0, f1, a0, a1 []uint32) map[string]interface{} {
	inWindow := func(bits []uint64, s, l int) int64 {
		k := uint32(roomLayers[l].packets)
		return countBits(bits, f0[s]*k, f1[s]*k)
	}
	// The layer each pair was mostly on, and the layer most pairs were on.
	votes := [3]int{}
	for _, p := range all {
		p.mu.Lock()
		for s := 0; s < speakers && video; s++ {
			if pair := p.pairs[uint16(s)]; pair != nil && s != p.index {
				best, most := -1, int64(0)
				for l, bits := range pair.layers {
					if n := inWindow(bits, s, l); n > most {
						best, most = l, n
					}
				}
				if best >= 0 {
					votes[best]++
				}
			}
		}
		p.mu.Unlock()
	}
	majority := 0
	for l := range votes {
		if votes[l] > votes[majority] {
			majority = l
		}
	}
	var forwarded, audioReceived, audioExpected, videoReceived, videoExpected int64
	framesOn := [3]int64{}
	var framesNone int64 // frames of a pair of which nothing came (paused or lost)
	hist := make([]uint64, fineBuckets+coarseBuckets)
	// Per pair (subscriber>publisher): video packets received / expected, for -detail.
	pairs := map[string]interface{}{}
	for _, p := range all {
		if p.light != nil {
			continue // counted by addLightResult
		}
		p.mu.Lock()
		heard := 0
		for s := 0; s < speakers && heard < slots; s++ {
			if s != p.index {
				heard++
				audioExpected += int64(a1[s] - a0[s])
			}
		}
		for s := 0; s < speakers; s++ {
			if s == p.index {
				continue
			}
			var layerBits [3][]uint64
			if pair := p.pairs[uint16(s)]; pair != nil {
				n := countBits(pair.audio, a0[s], a1[s])
				audioReceived += n
				forwarded += n
				layerBits = pair.layers
			}
			if !video {
				continue
			}
			last, most := majority, int64(0)
			for l, bits := range layerBits {
				n := inWindow(bits, s, l)
				forwarded += n
				if n > most {
					last, most = l, n
				}
			}
			pairReceived, pairExpected := videoReceived, videoExpected
			for f := f0[s]; f < f1[s]; f++ {
				bestShare, bestGot, on := 0.0, int64(0), -1
				for l, bits := range layerBits {
					k := uint32(roomLayers[l].packets)
					got := countBits(bits, f*k, (f+1)*k)
					if share := float64(got) / float64(k); got > 0 && share > bestShare {
						bestShare, bestGot, on = share, got, l
					}
				}
				if on < 0 {
					on = last
					framesNone++
				}
				last = on
				framesOn[on]++
				videoReceived += bestGot
				videoExpected += int64(roomLayers[on].packets)
			}
			if detail {
				pairs[fmt.Sprintf("%d>%d", p.index, s)] = []int64{videoReceived - pairReceived, videoExpected - pairExpected,
					inWindow(layerBits[0], s, 0), inWindow(layerBits[1], s, 1), inWindow(layerBits[2], s, 2)}
			}
		}
		for i, c := range p.hist {
			hist[i] += uint64(c)
		}
		p.mu.Unlock()
	}
	received := audioReceived + videoReceived
	expected := audioExpected + videoExpected
	ratio := func(a, b int64) interface{} {
		if b == 0 {
			return nil
		}
		return float64(a) / float64(b)
	}
	var sentVideo, sentAudio int64
	for s := 0; s < speakers; s++ {
		sentAudio += int64(a1[s] - a0[s])
		for _, l := range roomLayers {
			if video {
				sentVideo += int64(f1[s]-f0[s]) * int64(l.packets)
			}
		}
	}
	frames := framesOn[0] + framesOn[1] + framesOn[2]
	layerShare := map[string]interface{}{}
	for i, l := range roomLayers {
		layerShare[l.rid] = ratio(framesOn[i], frames)
	}
	dup, bad, padding := 0, 0, 0
	for _, p := range all {
		p.mu.Lock()
		dup += p.dup
		bad += p.bad
		padding += p.padding
		p.mu.Unlock()
	}
	delivered := ratio(received, expected)
	if delivered == nil {
		delivered = 0.0
	}
	out := map[string]interface{}{
		"participants":         len(all),
		"speakers":             speakers,
		"sent_video":           sentVideo,
		"sent_audio":           sentAudio,
		"expected":             expected,
		"received":             received,
		"forwarded":            forwarded,
		"delivered_ratio":      delivered,
		"delivered_audio":      ratio(audioReceived, audioExpected),
		"audio_received":       audioReceived,
		"audio_expected":       audioExpected,
		"delivered_video":      ratio(videoReceived, videoExpected),
		"video_layers":         layerShare,
		"video_frames_missing": ratio(framesNone, frames),
		"duplicates":           dup,
		"unrecognised":         bad,
		"padding_packets":      padding,
		"latency_p50_ms":       percentile(hist, 0.5),
		"latency_p99_ms":       percentile(hist, 0.99),
		"subscribe_offers":     totalOffers(all),
	}
	if detail {
		out["pairs"] = pairs
	}
	return out
}

func totalOffers(all []*roomParticipant) int64 {
	var n int64
	for _, p := range all {
		n += int64(p.offers.Load())
	}
	return n
}

func roomStates(all []*roomParticipant) map[string]int {
	out := map[string]int{}
	for _, p := range all {
		s, _ := p.subState.Load().(string)
		if s == "" {
			s = "none"
		}
		out[s]++
	}
	return out
}

// addLightResult folds the light listeners' sequence-number counts into the result's
// delivery (their latency is not known: the percentiles are the full receivers') and reports
// them apart as well, next to the full receivers' own delivery, so the two can be compared.
func addLightResult(result map[string]interface{}, lights []*lightListener, socks []*lightSocket,
	speakers, slots int, a0, a1 []uint32) {
	heard := slots
	if heard > speakers {
		heard = speakers
	}
	// A listener hears the `heard` loudest speakers (the first ones: levels rise with the index).
	var sent int64
	for s := 0; s < heard; s++ {
		sent += int64(a1[s] - a0[s])
	}
	perSlot := 0.0
	if heard > 0 {
		perSlot = float64(sent) / float64(heard)
	}
	ratio := func(a, b int64) interface{} {
		if b == 0 {
			return nil
		}
		return float64(a) / float64(b)
	}
	fullRx, _ := result["audio_received"].(int64)
	fullExp, _ := result["audio_expected"].(int64)
	result["delivered_audio_full"] = ratio(fullRx, fullExp)
	rx, exp, dup, silent := lightTotals(lights, heard, perSlot)
	received := result["received"].(int64) + rx
	expected := result["expected"].(int64) + exp
	result["received"] = received
	result["expected"] = expected
	result["forwarded"] = result["forwarded"].(int64) + rx
	result["received_packets"] = result["forwarded"]
	result["audio_received"] = fullRx + rx
	result["audio_expected"] = fullExp + exp
	result["delivered_audio"] = ratio(fullRx+rx, fullExp+exp)
	if d := ratio(received, expected); d != nil {
		result["delivered_ratio"] = d
	}
	result["duplicates"] = result["duplicates"].(int) + dup
	if len(lights) == 0 {
		return
	}
	result["delivered_audio_light"] = ratio(rx, exp)
	result["light_received"] = rx
	result["light_expected"] = exp
	result["light_listeners_silent"] = silent
	var unmatched, batches, datagrams int64
	for _, sock := range socks {
		unmatched += sock.unmatched.Load()
		batches += sock.batches.Load()
		datagrams += sock.datagrams.Load()
	}
	result["light_unmatched_packets"] = unmatched
	if batches > 0 {
		// Datagrams per recvmmsg over the whole run (joining included).
		result["light_batch_mean"] = float64(datagrams) / float64(batches)
	}
}

// startProfile profiles the process's CPU until the returned function is called ("": no-op).
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
