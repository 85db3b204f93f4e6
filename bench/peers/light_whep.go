package main

// Light WHEP viewers: viewers of the broadcast rows that cost the generator a fraction of a full
// Pion viewer, so the generator, not the server, stops setting delivery and latency at 200
// viewers. A full viewer decrypts every packet and runs Pion's NACK, report and TWCC
// interceptors and a track reader goroutine; at 200 viewers (110,000 packets/s) the generator
// needed about 106 % of a core, more than the one it is pinned to (2026-12-07). At 100 viewers
// against the Pion SFU, 20 full + 80 light cost 8.7 µs of generator CPU per received packet
// where 100 full cost 11.2 (docs/benchmarks.md, "Generator cost (WHEP viewers)").
//
// A light viewer is a real WHEP client up to the media: it POSTs the same offer a full viewer
// does (the same codecs, feedback and header extensions: see lightWHEPAPI), runs ICE and DTLS
// in Pion, and Pion takes the server's SRTCP (its sender reports are read for the receiver
// reports' LSR/DLSR). Its RTP never reaches Pion: every light viewer's PeerConnection shares
// the light socket of light.go, which counts RTP from the clear header before Pion sees it.
// Unlike a light room listener it still gives the server what a browser gives, built from the
// clear headers and the socket's read time (light_feedback.go): transport-wide CC feedback
// every 100 ms, receiver reports every second, NACKs for gaps and a PLI when the video starts,
// all written through pc.WriteRTCP so they are SRTCP-protected. The server's congestion
// control, NACK repair and layer choice depend on them. It does not decrypt media, check
// payloads or measure latency: the full viewers (-full-viewers) do that.

import (
	"encoding/binary"
	"math/bits"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// Media kinds by payload type, from the server's answer.
const (
	kindOther = iota // a payload type the answer does not name (RTX would be one): not counted
	kindVideo
	kindAudio
)

// whepAnswer is what a light viewer needs from the server's answer.
type whepAnswer struct {
	twccID uint8
	kind   [128]uint8
	clock  [128]uint32
	nack   [128]bool // the answer keeps `a=rtcp-fb:PT nack` for it
}

// parseWHEPAnswer reads the m-lines' payload types, their clock rates and NACK feedback, and the
// transport-wide-cc extension's id.
func parseWHEPAnswer(answer string) whepAnswer {
	a := whepAnswer{twccID: twccExtID(answer)}
	kind := uint8(kindOther)
	pt := func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 0 && n < 128
	}
	for _, line := range strings.Split(answer, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			f := strings.Fields(line)
			kind = kindOther
			if f[0] == "m=video" {
				kind = kindVideo
			} else if f[0] == "m=audio" {
				kind = kindAudio
			}
			for _, format := range f[min(3, len(f)):] {
				if n, ok := pt(format); ok {
					a.kind[n] = kind
				}
			}
		case strings.HasPrefix(line, "a=rtpmap:"):
			// a=rtpmap:96 VP8/90000 (RTX's own payload type stays kindOther: it is not media)
			f := strings.Fields(strings.TrimPrefix(line, "a=rtpmap:"))
			if n, ok := pt(f[0]); ok && len(f) > 1 {
				name, rate, _ := strings.Cut(f[1], "/")
				if strings.EqualFold(name, "rtx") {
					a.kind[n] = kindOther
				}
				if r, err := strconv.Atoi(strings.SplitN(rate, "/", 2)[0]); err == nil {
					a.clock[n] = uint32(r)
				}
			}
		case strings.HasPrefix(line, "a=rtcp-fb:"):
			f := strings.Fields(strings.TrimPrefix(line, "a=rtcp-fb:"))
			if n, ok := pt(f[0]); ok && len(f) == 2 && f[1] == "nack" {
				a.nack[n] = true
			}
		}
	}
	return a
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// lightWHEPAPI is the light viewers' Pion API: the media engine a full viewer's newAPI builds
// (so the offer is the same: NACK, PLI and transport-wide CC feedback, the TWCC header
// extension), but no interceptors (no RTP reaches Pion; the feedback is built here) and the
// shared light socket.
func lightWHEPAPI(ip string, socket *lightSocket) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	// Registers the feedback and extensions in m; the registry it fills is thrown away.
	if err := webrtc.RegisterDefaultInterceptors(m, &interceptor.Registry{}); err != nil {
		return nil, err
	}
	return muxedAPI(ip, socket, m)
}

// lightViewer is one light WHEP viewer's state: written by the socket's reader (count), read
// by its feedback goroutine (light_feedback.go) and the result.
type lightViewer struct {
	pc     *webrtc.PeerConnection
	sock   *lightSocket
	ssrc   uint32        // its own RTCP sender SSRC
	kick   chan struct{} // wakes the feedback goroutine for a PLI
	closed atomic.Bool

	mu       sync.Mutex
	answer   whepAnswer
	streams  []*lightStream
	twcc     *twcc.Recorder
	twccSeen bool   // a packet carried the extension: feedback starts (as Pion's interceptor)
	pliFor   uint32 // the video SSRC a PLI is owed for, 0 none
	srs      map[uint32]senderReport
	sent     feedbackCounts
}

// senderReport is the newest sender report of an SSRC: the middle 32 bits of its NTP time and
// when it was read (now()).
type senderReport struct {
	lsr uint32
	at  int64
}

func newLightViewer(sock *lightSocket) *lightViewer {
	ssrc := rand.Uint32() // #nosec: an SSRC, not a secret
	return &lightViewer{sock: sock, ssrc: ssrc, kick: make(chan struct{}, 1), twcc: twcc.NewRecorder(ssrc),
		srs: map[uint32]senderReport{}}
}

// start sends the offer; the answer's addresses are registered with the socket before Pion
// applies it, since media may follow as soon as DTLS is up.
func (l *lightViewer) start(pc *webrtc.PeerConnection, url, token string) error {
	l.pc = pc
	go l.run()
	return exchangeSeeing(pc, url, token, func(answer string) {
		l.mu.Lock()
		l.answer = parseWHEPAnswer(answer)
		l.mu.Unlock()
		l.sock.register(answer, l)
	})
}

// readReports reads the server's RTCP for one receiver (Pion starts it from the answer's
// a=ssrc): sender reports give the receiver reports' LSR and DLSR.
func (l *lightViewer) readReports(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.Read(buf)
		if err != nil {
			return
		}
		packets, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range packets {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				l.mu.Lock()
				l.srs[sr.SSRC] = senderReport{lsr: uint32(sr.NTPTime >> 16), at: now()}
				l.mu.Unlock()
			}
		}
	}
}

// lightStream is one SSRC as a light viewer sees it.
type lightStream struct {
	ssrc    uint32
	kind    uint8
	clock   uint32
	highest uint64 // extended sequence number of the newest packet, 0 before the first
	rr      receptionStats
	nack    *nackLog // nil when the answer has no NACK feedback for its payload type
	win     arrivalWindow
}

func (l *lightViewer) stream(ssrc uint32, pt uint8) *lightStream {
	for _, s := range l.streams {
		if s.ssrc == ssrc {
			return s
		}
	}
	s := &lightStream{ssrc: ssrc, kind: l.answer.kind[pt], clock: l.answer.clock[pt]}
	if l.answer.nack[pt] {
		s.nack = &nackLog{}
	}
	l.streams = append(l.streams, s)
	return s
}

// count takes one RTP packet read at `at` (the batch's read time, as a browser stamps arrival
// on its network thread): transport-wide CC arrival, loss and jitter for the reports, gaps for
// NACKs, and the delivery window. The socket's reader calls it, with nothing else to do.
func (l *lightViewer) count(pkt []byte, at int64) {
	pt := pkt[1] & 0x7f
	seq := binary.BigEndian.Uint16(pkt[2:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	// Padding-only packets (the P bit: bandwidth probes, or a slot the server filled) carry no
	// media: they still count for the transport (TWCC, NACK, reports), not for delivery. The
	// publisher never sets P.
	media := pkt[0]&0x20 == 0
	l.mu.Lock()
	defer l.mu.Unlock()
	if tseq, ok := transportSeq(pkt, l.answer.twccID); ok {
		l.twcc.Record(ssrc, tseq, at/1000)
		l.twccSeen = true
	}
	s := l.stream(ssrc, pt)
	prev := s.highest
	ext := extendSeq(prev, seq)
	if prev == 0 {
		s.rr.start(ext)
		if s.kind == kindVideo {
			// A browser asks for a key frame when its decoder starts.
			l.pliFor = ssrc
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	}
	if ext > prev {
		s.highest = ext
		if prev != 0 && media {
			s.rr.jitterStep(at, ts, s.clock)
		}
	}
	s.rr.received++
	if s.nack != nil {
		s.nack.add(ext)
	}
	s.win.see(ext, prev, at, media && s.kind != kindOther)
}

// ---- delivery ----

// arrivalWindow is which media packets of one SSRC belong to the window and arrived. The payload
// and its send stamp are encrypted, so the window is drawn by arrival on the sequence numbers:
// a packet belongs to it if it is newer than the newest that arrived before the window started
// and not newer than the newest that arrived before it ended. That is the window shifted by
// the path's delay, so its packet count matches what the publisher sent in the window to a
// few packets (a 10 ms pacing tick's worth). A packet that belongs to it counts once, whenever
// it arrives (a late retransmission in the second after the window too, as the full viewers
// count NACK repairs), so a resend on the same SSRC and sequence number is never counted twice.
type arrivalWindow struct {
	first uint64   // first extended sequence number of the window, 0 until it starts
	end   uint64   // one past the last, 0 until the window ends
	bits  []uint64 // bit i: first+i arrived
	dup   int      // copies of packets already counted (retransmissions of packets that arrived)
}

func (w *arrivalWindow) see(ext, prev uint64, at int64, media bool) {
	if at < windowStart.Load() {
		return
	}
	if w.first == 0 {
		w.first = ext
		if prev != 0 {
			w.first = prev + 1
		}
	}
	if w.end == 0 && at >= windowEnd.Load() {
		w.end = ext
		if prev != 0 {
			w.end = prev + 1
		}
	}
	if !media || ext < w.first || (w.end != 0 && ext >= w.end) {
		return
	}
	at64 := ext - w.first
	for int(at64/64) >= len(w.bits) {
		// Grows by doubling: a few allocations over a window, none per packet.
		w.bits = append(w.bits, make([]uint64, len(w.bits)+16)...)
	}
	word, bit := at64/64, uint64(1)<<(at64%64)
	if w.bits[word]&bit != 0 {
		w.dup++
		return
	}
	w.bits[word] |= bit
}

// received is the window's packets that arrived; `highest` closes a window no packet followed.
func (w *arrivalWindow) received(highest uint64) int64 {
	if w.first == 0 {
		return 0
	}
	end := w.end
	if end == 0 {
		end = highest + 1
	}
	var n int64
	for i, word := range w.bits {
		lo := uint64(i) * 64
		if w.first+lo >= end {
			break
		}
		if over := w.first + lo + 64; over > end {
			word &= (uint64(1) << (64 - (over - end))) - 1
		}
		n += int64(bits.OnesCount64(word))
	}
	return n
}

// lightViewerTotals sums the light viewers' windows against what the publisher sent in the
// window. Per viewer and kind the count is capped at what was sent (`excess` keeps what the
// arrival-drawn edges added beyond it); a kind of which nothing arrived counts as all lost.
func lightViewerTotals(lights []*lightViewer, sentVideo, sentAudio int64) (received, expected, excess int64, dup, silent int) {
	for _, l := range lights {
		l.mu.Lock()
		var got [3]int64
		for _, s := range l.streams {
			got[s.kind] += s.win.received(s.highest)
			dup += s.win.dup
		}
		l.mu.Unlock()
		for kind, sent := range map[int]int64{kindVideo: sentVideo, kindAudio: sentAudio} {
			n := got[kind]
			if n > sent {
				excess += n - sent
				n = sent
			}
			received += n
		}
		expected += sentVideo + sentAudio
		if got[kindVideo]+got[kindAudio] == 0 {
			silent++
		}
	}
	return
}

// lightFields is the light viewers' side of the result: the feedback they sent (so a run shows
// they behaved like browsers) and the shared socket's counters.
func lightFields(lights []*lightViewer, sock *lightSocket) map[string]interface{} {
	var sent feedbackCounts
	for _, l := range lights {
		l.mu.Lock()
		sent.twcc += l.sent.twcc
		sent.reports += l.sent.reports
		sent.nacks += l.sent.nacks
		sent.nackedPackets += l.sent.nackedPackets
		sent.plis += l.sent.plis
		l.mu.Unlock()
	}
	out := map[string]interface{}{
		"light_twcc_feedback_sent":    sent.twcc,
		"light_receiver_reports_sent": sent.reports,
		"light_nacks_sent":            sent.nacks,
		"light_nacked_packets":        sent.nackedPackets,
		"light_plis_sent":             sent.plis,
		"light_unmatched_packets":     sock.unmatched.Load(),
	}
	if b := sock.batches.Load(); b > 0 {
		// Datagrams per recvmmsg over the whole run (joining included).
		out["light_batch_mean"] = float64(sock.datagrams.Load()) / float64(b)
	}
	return out
}
