package main

// Light listeners: room listeners that cost the generator a small fraction of what a full Pion
// receiver costs, so a 2-core machine can drive 1,000 of them. A full Pion listener spends about
// 21 µs of CPU per received packet (socket read, ICE/DTLS/SRTP demux, SRTP decrypt, the
// interceptors, the track's buffer and reader goroutine); 1,000 listeners × 3 audio slots × 50
// packets/s would need about 3 cores for the generator alone.
//
// A light listener is still a real participant: it joins over the WebSocket with the listener
// token, answers every subscribe offer (renegotiations included) with a Pion PeerConnection,
// runs real ICE (it answers the server's consent checks and sends its own) and a real DTLS
// handshake, and Pion still handles SRTCP. What it skips is SRTP media: every light listener's
// PeerConnection shares one UDP socket through Pion's ICE UDPMux, and that socket (lightSocket)
// reads with recvmmsg and takes RTP packets out before Pion sees them, counting them per
// (listener, SSRC) from the clear RTP header (sequence numbers: delivery and loss) without
// decrypting them. It sends no receiver reports, NACKs or transport-wide CC (its API has no
// interceptors), and cannot check payloads or measure latency: the full listeners do that.

import (
	"math/bits"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// lightBatch is the datagrams one recvmmsg may return.
const lightBatch = 64

// lightPace: after a batch that emptied the socket, the reader waits this long before the
// next, so packets gather and one system call and one goroutine wakeup serve dozens of them
// (1,000 listeners: 150 packets a millisecond, a few per cent of the 4 MB receive buffer).
// Light listeners measure no latency; the STUN and DTLS it delays by a millisecond do not mind.
// It batches system calls, not wakeups: the socket stays in Go's netpoller (edge-triggered), so
// each datagram that arrives during the pace still wakes the thread (a run of 40 light WHEP
// viewers, 22,000 packets/s: 163,134 voluntary context switches in its first 13 s).
const lightPace = time.Millisecond

// datagram is one packet read and its sender.
type datagram struct {
	buf  []byte
	n    int
	from netip.AddrPort
}

// mediaSink counts one light peer's RTP media: a room listener (lightListener) or a WHEP viewer
// (lightViewer, light_whep.go). `at` is the batch's read time (now()). Called by the socket's
// reader goroutine only.
type mediaSink interface {
	count(pkt []byte, at int64)
}

// lightSocket is the net.PacketConn under the UDPMux: STUN, DTLS and RTCP go up to Pion, RTP is
// counted here. Only the mux's reader goroutine calls ReadFrom.
type lightSocket struct {
	*net.UDPConn
	reader    *batchReader
	pace      time.Duration // lightPace, or longer for a socket of its own (room.go -light-sockets own)
	batch     []datagram
	next      int
	batches   atomic.Int64
	datagrams atomic.Int64

	mu     sync.RWMutex
	byAddr map[netip.AddrPort]mediaSink

	// Media from an address no listener registered (before its offer was answered, or a
	// closed one's): counted so a mismatch shows instead of vanishing.
	unmatched atomic.Int64
}

func newLightSocket(ip string) (*lightSocket, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		return nil, err
	}
	// Bursts of many listeners' packets land at once; the kernel caps this at rmem_max.
	_ = conn.SetReadBuffer(4 << 20)
	reader, err := newBatchReader(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &lightSocket{UDPConn: conn, reader: reader, pace: lightPace, byAddr: map[netip.AddrPort]mediaSink{}}, nil
}

// ReadFrom hands Pion the next datagram that is not RTP media.
func (s *lightSocket) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		if s.next == len(s.batch) {
			if err := s.fill(); err != nil {
				return 0, nil, err
			}
		}
		d := &s.batch[s.next]
		s.next++
		if pkt := d.buf[:d.n]; !isRTPMedia(pkt) {
			return copy(b, pkt), net.UDPAddrFromAddrPort(d.from), nil
		}
	}
}

// fill reads the next batch and counts its media at once, so one clock read and one lock
// serve the batch.
func (s *lightSocket) fill() error {
	if len(s.batch) < lightBatch {
		time.Sleep(s.pace)
	}
	s.next, s.batch = 0, nil
	batch, err := s.reader.read()
	if err != nil {
		return err
	}
	s.batch = batch
	s.batches.Add(1)
	s.datagrams.Add(int64(len(batch)))
	at := now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range batch {
		pkt := batch[i].buf[:batch[i].n]
		if !isRTPMedia(pkt) {
			continue
		}
		l := s.byAddr[batch[i].from]
		if l == nil {
			s.unmatched.Add(1)
			continue
		}
		l.count(pkt, at)
	}
	return nil
}

// isRTPMedia: RTP version 2 and not an RTCP packet type (RFC 5761 §4: 192–223 are RTCP).
// STUN starts with 0–3 and DTLS with 20–63, so neither matches.
func isRTPMedia(b []byte) bool {
	return len(b) >= 12 && b[0]>>6 == 2 && (b[1] < 192 || b[1] > 223)
}

// register routes media from the server's candidates in a subscribe offer (or a WHEP answer) to
// l: the server binds one UDP port per connection, so the source address names the peer.
func (s *lightSocket) register(offer string, l mediaSink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, line := range strings.Split(offer, "\n") {
		if ap, ok := candidateAddr(strings.TrimSpace(line)); ok {
			s.byAddr[ap] = l
		}
	}
}

// candidateAddr reads `a=candidate:<foundation> <component> udp <priority> <ip> <port> typ …`.
func candidateAddr(line string) (netip.AddrPort, bool) {
	if !strings.HasPrefix(line, "a=candidate:") {
		return netip.AddrPort{}, false
	}
	f := strings.Fields(line)
	if len(f) < 6 || !strings.EqualFold(f[2], "udp") {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(f[4])
	port, perr := strconv.ParseUint(f[5], 10, 16)
	if err != nil || perr != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}

// lightAPI is the light listeners' Pion API: the codecs and header extensions a browser
// answers with, no interceptors (nothing reads their tracks), and the shared socket.
func lightAPI(ip string, socket *lightSocket) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	for _, uri := range []string{sdp.SDESMidURI, audioLevelURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	return muxedAPI(ip, socket, m)
}

// muxedAPI is a Pion API whose PeerConnections all run ICE on the light socket, with no
// interceptors: light peers write what feedback they send themselves.
func muxedAPI(ip string, socket *lightSocket, m *webrtc.MediaEngine) (*webrtc.API, error) {
	s, err := settingEngine(ip)
	if err != nil {
		return nil, err
	}
	s.SetICEUDPMux(ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: socket}))
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
		webrtc.WithSettingEngine(s)), nil
}

// ---- per-listener counting ----

// lightListener counts one listener's media per SSRC.
type lightListener struct {
	mu      sync.Mutex
	streams map[uint32]*seqCount
}

// seqCount is one SSRC's packets, by extended sequence number: which arrived in the window
// (arrival time), so delivery is the distinct ones over the range they span.
type seqCount struct {
	highest  uint64   // extended sequence number of the newest packet, 0 before the first
	base     uint64   // extended sequence number of bit 0 of inWindow
	inWindow []uint64 // arrived in the window
	dup      int
}

func (l *lightListener) count(pkt []byte, at int64) {
	ssrc := uint32(pkt[8])<<24 | uint32(pkt[9])<<16 | uint32(pkt[10])<<8 | uint32(pkt[11])
	seq := uint16(pkt[2])<<8 | uint16(pkt[3])
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.streams[ssrc]
	if c == nil {
		c = &seqCount{}
		l.streams[ssrc] = c
	}
	ext := c.extend(seq)
	if at >= roomWindowStart.Load() && at < roomWindowEnd.Load() {
		c.mark(ext)
	}
}

// extend places seq next to the newest packet (RFC 3550 A.1: the nearest cycle).
func (c *seqCount) extend(seq uint16) uint64 {
	ext := extendSeq(c.highest, seq)
	if ext > c.highest {
		c.highest = ext
	}
	return ext
}

// extendSeq is seq's extended sequence number next to `highest` (0: no packet yet). The first
// starts one cycle up, so late packets from before it still have a place.
func extendSeq(highest uint64, seq uint16) uint64 {
	if highest == 0 {
		return 1<<16 | uint64(seq)
	}
	return uint64(int64(highest) + int64(int16(seq-uint16(highest))))
}

// lightSlack: bit 0 of a window bitmap sits this far before the window's first packet, for
// packets reordered behind it.
const lightSlack = 256

func (c *seqCount) mark(ext uint64) {
	if c.inWindow == nil {
		c.base = ext - lightSlack
	}
	if ext < c.base {
		return
	}
	at := ext - c.base
	for int(at/64) >= len(c.inWindow) {
		// Grows by doubling: a few allocations over a window, none per packet.
		c.inWindow = append(c.inWindow, make([]uint64, len(c.inWindow)+16)...)
	}
	word, bit := at/64, uint64(1)<<(at%64)
	if c.inWindow[word]&bit != 0 {
		c.dup++
		return
	}
	c.inWindow[word] |= bit
}

// window is what arrived in the window and the sequence range it spans (first to last
// received, both included): a lost packet inside the range counts, one lost at its ends not.
func (c *seqCount) window() (received, expected int64) {
	first, last := -1, -1
	for w, word := range c.inWindow {
		if word == 0 {
			continue
		}
		received += int64(bits.OnesCount64(word))
		if first < 0 {
			first = w*64 + bits.TrailingZeros64(word)
		}
		last = w*64 + 63 - bits.LeadingZeros64(word)
	}
	if first < 0 {
		return 0, 0
	}
	return received, int64(last - first + 1)
}

// lightTotals sums the light listeners' windows. A listener hears `slots` streams; a slot of
// which nothing arrived in the window is charged what an average heard speaker sent in it, so
// a listener that got nothing counts as lost, not as absent.
func lightTotals(lights []*lightListener, slots int, perSlot float64) (received, expected int64, dup int, silent int) {
	for _, l := range lights {
		l.mu.Lock()
		seen := 0
		for _, c := range l.streams {
			r, e := c.window()
			received += r
			expected += e
			dup += c.dup
			if r > 0 {
				seen++
			}
		}
		l.mu.Unlock()
		if seen < slots {
			expected += int64(float64(slots-seen)*perSlot + 0.5)
		}
		if seen == 0 {
			silent++
		}
	}
	return
}
