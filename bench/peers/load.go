package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// Where the stamp sits in each payload: after the VP8 descriptor and key-frame header (11
// bytes) for video, at the start for audio. 8 bytes of send time (ns since this process began,
// monotonic: publisher and viewers share the clock) and 4 bytes of packet index.
const (
	videoStampAt = 16
	audioStampAt = 0
	audioPayload = 160
)

// Latency histogram: 0.1 ms buckets below 100 ms, 10 ms buckets to 10 s.
const (
	fineBuckets   = 1000
	coarseBuckets = 990
)

func bucketOf(ns int64) int {
	if ns < 0 {
		ns = 0
	}
	us := ns / 1000
	if us < 100_000 {
		return int(us / 100)
	}
	b := fineBuckets + int((us-100_000)/10_000)
	if b >= fineBuckets+coarseBuckets {
		b = fineBuckets + coarseBuckets - 1
	}
	return b
}

func bucketMs(b int) float64 {
	if b < fineBuckets {
		return float64(b+1) / 10
	}
	return 100 + float64(b-fineBuckets+1)*10
}

var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// window: packets sent between start and end are the ones counted.
var windowStart, windowEnd atomic.Int64

type viewer struct {
	pc        *webrtc.PeerConnection
	connected atomic.Bool
	state     atomic.Value
	settled   chan struct{} // closed when the connection is first connected or failed
	settle    sync.Once
	mu        sync.Mutex
	video     []uint64 // bitmap of video packet indexes received
	audio     []uint64
	hist      []uint32
	dup       int
	// A light viewer's state and shared socket (light_whep.go); nil for a full viewer.
	light *lightViewer
}

func (v *viewer) record(bits []uint64, idx uint32, sent int64, at int64) {
	word, bit := idx/64, uint64(1)<<(idx%64)
	if int(word) >= len(bits) {
		return
	}
	if bits[word]&bit != 0 {
		v.dup++
		return
	}
	bits[word] |= bit
	if sent >= windowStart.Load() && sent < windowEnd.Load() {
		v.hist[bucketOf(at-sent)]++
	}
}

func (v *viewer) onTrack(track *webrtc.TrackRemote) {
	isVideo := track.Kind() == webrtc.RTPCodecTypeVideo
	if isVideo {
		// A browser asks for a key frame when its decoder starts.
		_ = v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
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
		payload := buf[hn:n]
		v.mu.Lock()
		if isVideo && len(payload) >= videoStampAt+12 {
			sent := int64(binary.BigEndian.Uint64(payload[videoStampAt:]))
			v.record(v.video, binary.BigEndian.Uint32(payload[videoStampAt+8:]), sent, at)
		} else if !isVideo && len(payload) >= audioStampAt+12 {
			sent := int64(binary.BigEndian.Uint64(payload[audioStampAt:]))
			v.record(v.audio, binary.BigEndian.Uint32(payload[audioStampAt+8:]), sent, at)
		}
		v.mu.Unlock()
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL (WHIP at /whip/STREAM, WHEP at /whep/STREAM)")
	stream := fs.String("stream", "bench", "stream name")
	token := fs.String("token", "", "WHIP bearer token")
	viewerToken := fs.String("viewer-token", "", "WHEP bearer token")
	ip := fs.String("ip", "127.0.0.1", "the only local address ICE may use")
	viewers := fs.Int("viewers", 10, "WHEP viewers")
	videoPps := fs.Int("video-pps", 500, "video packets per second")
	size := fs.Int("size", 1200, "video packet size in bytes (RTP header included)")
	audioPps := fs.Int("audio-pps", 50, "audio packets per second")
	warmup := fs.Duration("warmup", 2*time.Second, "time between the last viewer connecting and the window")
	window := fs.Duration("window", 15*time.Second, "measured window")
	connectTimeout := fs.Duration("connect-timeout", 30*time.Second, "time allowed, after the last offer, for viewers to connect")
	parallel := fs.Int("parallel", 4, "viewers connecting at once")
	fullViewers := fs.Int("full-viewers", 20, "viewers that are full Pion receivers (decrypt, payload stamps: the latency percentiles), spread over the join order; the others are light (light_whep.go: real ICE, DTLS and browser-like RTCP feedback, media counted from the clear RTP header); -1: all")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile over the window to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	windowStart.Store(math.MaxInt64)
	windowEnd.Store(math.MaxInt64)
	api, err := newAPI(*ip)
	if err != nil {
		return err
	}
	// Packet indexes count from the publisher's start, and viewers join a few at a time for as
	// long as it takes: room for 20 minutes of packets (about 40 KB per viewer).
	total := 20 * time.Minute
	videoCap := int(total.Seconds()*float64(*videoPps))/64 + 1
	audioCap := int(total.Seconds()*float64(*audioPps))/64 + 1

	pub, err := newPublisher(api, *size)
	if err != nil {
		return err
	}
	if err := exchange(pub.pc, *base+"/whip/"+*stream, *token); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	if err := pub.waitConnected(15 * time.Second); err != nil {
		return err
	}
	emit(map[string]interface{}{"event": "publisher-connected"})
	go pub.run(*videoPps, *audioPps)

	full := *viewers
	if *fullViewers >= 0 && *fullViewers < full {
		full = *fullViewers
	}
	var sock *lightSocket
	var lightAPI *webrtc.API
	if full < *viewers {
		if sock, err = newLightSocket(*ip); err != nil {
			return err
		}
		defer sock.Close()
		if lightAPI, err = lightWHEPAPI(*ip, sock); err != nil {
			return err
		}
	}
	all := make([]*viewer, *viewers)
	var fulls, lights []*viewer
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	var failures atomic.Int32
	var firstError atomic.Value
	for i := range all {
		v := &viewer{settled: make(chan struct{})}
		vAPI := api
		// Full viewers spread evenly over the join order (viewer i is full when the running
		// share i·full/viewers steps up), so the latency sample sees early and late joiners.
		if (i+1)*full/(*viewers) > i*full/(*viewers) {
			v.video, v.audio = make([]uint64, videoCap), make([]uint64, audioCap)
			v.hist = make([]uint32, fineBuckets+coarseBuckets)
			fulls = append(fulls, v)
		} else {
			v.light = newLightViewer(sock)
			vAPI = lightAPI
			lights = append(lights, v)
		}
		all[i] = v
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// A slot is held until the viewer is up (or gave up), so at most -parallel DTLS
			// handshakes run at once, as when viewers join over time: a server must not see
			// hundreds of handshakes at once only because a load generator asked.
			if err := v.start(vAPI, *base+"/whep/"+*stream, *viewerToken); err != nil {
				failures.Add(1)
				firstError.CompareAndSwap(nil, err.Error())
				return
			}
			select {
			case <-v.settled:
			case <-time.After(30 * time.Second):
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(*connectTimeout)
	connected := 0
	for time.Now().Before(deadline) {
		connected = 0
		for _, v := range all {
			if v.connected.Load() {
				connected++
			}
		}
		if connected+int(failures.Load()) >= *viewers {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ev := map[string]interface{}{"event": "viewers-connected", "connected": connected,
		"states": states(all)}
	if e := firstError.Load(); e != nil {
		ev["error"] = e
	}
	emit(ev)
	time.Sleep(*warmup)

	stopProfile, err := startProfile(*cpuProfile)
	if err != nil {
		return err
	}
	cpu0 := cpuSeconds()
	var v0, a0, v1, a1 uint32
	if len(lights) > 0 {
		v0, a0 = pub.mark(&windowStart)
	} else {
		windowStart.Store(now())
		v0, a0 = pub.videoIndex.Load(), pub.audioIndex.Load()
	}
	emit(map[string]interface{}{"event": "window-start"})
	time.Sleep(*window)
	if len(lights) > 0 {
		v1, a1 = pub.mark(&windowEnd)
	} else {
		v1, a1 = pub.videoIndex.Load(), pub.audioIndex.Load()
		windowEnd.Store(now())
	}
	cpu1 := cpuSeconds()
	stopProfile()
	emit(map[string]interface{}{"event": "window-end"})
	// Late packets (and NACK repairs) of the window still count.
	time.Sleep(time.Second)
	pub.stop.Store(true)

	var fullReceived int64
	hist := make([]uint64, fineBuckets+coarseBuckets)
	for _, v := range fulls {
		v.mu.Lock()
		fullReceived += countBits(v.video, v0, v1) + countBits(v.audio, a0, a1)
		for i, c := range v.hist {
			hist[i] += uint64(c)
		}
		v.mu.Unlock()
	}
	fullExpected := int64(len(fulls)) * int64((v1-v0)+(a1-a0))
	received, expected := fullReceived, fullExpected
	lightResult := map[string]interface{}{}
	if len(lights) > 0 {
		lv := make([]*lightViewer, len(lights))
		for i, v := range lights {
			lv[i] = v.light
		}
		rx, exp, excess, dup, silent := lightViewerTotals(lv, int64(v1-v0), int64(a1-a0))
		received += rx
		expected += exp
		lightResult = lightFields(lv, sock)
		lightResult["delivered_light"] = ratio(rx, exp)
		lightResult["light_received"] = rx
		lightResult["light_expected"] = exp
		lightResult["light_edge_excess"] = excess
		lightResult["light_duplicates"] = dup
		lightResult["light_viewers_silent"] = silent
	}
	delivered := 0.0
	if expected > 0 {
		delivered = float64(received) / float64(expected)
	}
	result := map[string]interface{}{
		"event":           "result",
		"viewers":         *viewers,
		"connected":       connected,
		"sent_video":      v1 - v0,
		"sent_audio":      a1 - a0,
		"expected":        expected,
		"received":        received,
		"delivered_ratio": delivered,
		"latency_p50_ms":  percentile(hist, 0.5),
		"latency_p99_ms":  percentile(hist, 0.99),
		"window_s":        window.Seconds(),
		"load_cpu_s":      cpu1 - cpu0,
		"publisher_plis":  pub.plis.Load(),
		"publisher_nacks": pub.nacks.Load(),
		"full_viewers":    len(fulls),
		"light_viewers":   len(lights),
		"delivered_full":  ratio(fullReceived, fullExpected),
	}
	// The generator's own CPU per packet its viewers received in the window (publisher
	// included): it must stay well below the server's for the row to measure the server.
	if received > 0 {
		result["load_us_per_received_packet"] = (cpu1 - cpu0) * 1e6 / float64(received)
	}
	for k, v := range lightResult {
		result[k] = v
	}
	emit(result)
	return nil
}

// ratio is a/b, or nil (JSON null) when b is 0.
func ratio(a, b int64) interface{} {
	if b == 0 {
		return nil
	}
	return float64(a) / float64(b)
}

func countBits(bits []uint64, from, to uint32) int64 {
	var n int64
	for i := from; i < to; i++ {
		if int(i/64) < len(bits) && bits[i/64]&(1<<(i%64)) != 0 {
			n++
		}
	}
	return n
}

func percentile(hist []uint64, q float64) interface{} {
	var total uint64
	for _, c := range hist {
		total += c
	}
	if total == 0 {
		return nil
	}
	target := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= target {
			return bucketMs(i)
		}
	}
	return bucketMs(len(hist) - 1)
}

func (v *viewer) start(api *webrtc.API, url, token string) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	v.pc = pc
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		t, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			return err
		}
		if v.light != nil {
			go v.light.readReports(t.Receiver())
			continue
		}
		// Sender reports from the server go through the receiver's interceptors.
		go func(r *webrtc.RTPReceiver) {
			buf := make([]byte, 1500)
			for {
				if _, _, err := r.Read(buf); err != nil {
					return
				}
			}
		}(t.Receiver())
	}
	if v.light == nil {
		pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.onTrack(track) })
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.connected.Store(s == webrtc.PeerConnectionStateConnected)
		v.state.Store(s.String())
		if s == webrtc.PeerConnectionStateConnected || s == webrtc.PeerConnectionStateFailed ||
			s == webrtc.PeerConnectionStateClosed {
			v.settle.Do(func() { close(v.settled) })
		}
		if v.light != nil && (s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed) {
			v.light.closed.Store(true)
		}
	})
	if v.light != nil {
		return v.light.start(pc, url, token)
	}
	return exchange(pc, url, token)
}

type publisher struct {
	pc         *webrtc.PeerConnection
	video      *webrtc.TrackLocalStaticRTP
	audio      *webrtc.TrackLocalStaticRTP
	size       int
	connected  chan struct{}
	keyframe   atomic.Bool
	stop       atomic.Bool
	videoIndex atomic.Uint32
	audioIndex atomic.Uint32
	plis       atomic.Int64
	nacks      atomic.Int64
	marks      chan *windowMark
}

// windowMark is a window edge the publisher places between two of its ticks (mark).
type windowMark struct {
	edge         *atomic.Int64
	video, audio uint32
	done         chan struct{}
}

// mark sets a window edge halfway between two of the publisher's 10 ms ticks and returns its
// packet counts there. Light viewers draw the window by arrival (light_whep.go): with the edge
// where the packets just sent have arrived (loopback: well under 5 ms) and the next are not
// sent yet, their edge falls between the same packets as the publisher's count. An edge at
// an arbitrary instant put a whole tick (5 video packets) on one side or the other: 6 of
// 4,406 packets per viewer short in an 8 s window with no loss (2026-12-07).
func (p *publisher) mark(edge *atomic.Int64) (video, audio uint32) {
	m := &windowMark{edge: edge, done: make(chan struct{})}
	p.marks <- m
	<-m.done
	return m.video, m.audio
}

func newPublisher(api *webrtc.API, size int) (*publisher, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "bench")
	if err != nil {
		return nil, err
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "bench")
	if err != nil {
		return nil, err
	}
	p := &publisher{pc: pc, video: video, audio: audio, size: size, connected: make(chan struct{}),
		marks: make(chan *windowMark)}
	for _, track := range []*webrtc.TrackLocalStaticRTP{video, audio} {
		sender, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		go p.readFeedback(sender.Sender())
	}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	return p, nil
}

func (p *publisher) waitConnected(timeout time.Duration) error {
	select {
	case <-p.connected:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("publisher did not connect in %s", timeout)
	}
}

// readFeedback reads RTCP from the server (driving the NACK responder) and turns PLI/FIR into
// a key frame.
func (p *publisher) readFeedback(sender *webrtc.RTPSender) {
	for {
		packets, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, packet := range packets {
			switch pkt := packet.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.plis.Add(1)
				p.keyframe.Store(true)
			case *rtcp.TransportLayerNack:
				for _, pair := range pkt.Nacks {
					p.nacks.Add(int64(len(pair.PacketList())))
				}
			}
		}
	}
}

// run sends video paced every 10 ms in frames of pps/25 packets (25 frames/s, the last with the
// marker bit), a key frame every 2 s or after a PLI, and one audio packet every 1/audioPps s.
func (p *publisher) run(videoPps, audioPps int) {
	const tick = 10 * time.Millisecond
	perFrame := videoPps / 25
	if perFrame < 1 {
		perFrame = 1
	}
	videoPayload := make([]byte, p.size-12)
	audioBuf := make([]byte, audioPayload)
	var vseq, aseq uint16
	var vts, ats uint32
	inFrame := 0
	frames := 0
	keyframe := true
	start := time.Now()
	var videoSent, audioSent int64
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for range ticker.C {
		if p.stop.Load() {
			return
		}
		elapsed := time.Since(start).Seconds()
		for float64(videoSent) < elapsed*float64(videoPps) {
			if inFrame == 0 {
				keyframe = keyframe || p.keyframe.Swap(false) || frames%50 == 0
			}
			for i := range videoPayload {
				videoPayload[i] = 0
			}
			if inFrame == 0 {
				videoPayload[0] = 0x10 // S=1, partition 0
				if keyframe {
					copy(videoPayload[4:], []byte{0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01})
				} else {
					videoPayload[1] = 0x01 // P=1: inter frame
				}
			}
			idx := p.videoIndex.Load()
			binary.BigEndian.PutUint64(videoPayload[videoStampAt:], uint64(now()))
			binary.BigEndian.PutUint32(videoPayload[videoStampAt+8:], idx)
			inFrame++
			marker := inFrame == perFrame
			_ = p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96,
				SequenceNumber: vseq, Timestamp: vts, Marker: marker}, Payload: videoPayload})
			p.videoIndex.Store(idx + 1)
			vseq++
			videoSent++
			if marker {
				inFrame = 0
				frames++
				keyframe = false
				vts += 90000 / 25
			}
		}
		for float64(audioSent) < elapsed*float64(audioPps) {
			idx := p.audioIndex.Load()
			binary.BigEndian.PutUint64(audioBuf[audioStampAt:], uint64(now()))
			binary.BigEndian.PutUint32(audioBuf[audioStampAt+8:], idx)
			_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111,
				SequenceNumber: aseq, Timestamp: ats}, Payload: audioBuf})
			p.audioIndex.Store(idx + 1)
			aseq++
			ats += 960
			audioSent++
		}
		select {
		case m := <-p.marks:
			time.Sleep(tick / 2)
			m.video, m.audio = p.videoIndex.Load(), p.audioIndex.Load()
			m.edge.Store(now())
			close(m.done)
		default:
		}
	}
}

func states(all []*viewer) map[string]int {
	out := map[string]int{}
	for _, v := range all {
		s, _ := v.state.Load().(string)
		if s == "" {
			s = "none"
		}
		out[s]++
	}
	return out
}
