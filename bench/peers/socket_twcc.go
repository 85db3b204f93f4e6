package main

// Transport-wide CC feedback stamped when a datagram is read from the socket, as a browser
// stamps it on its network thread. Pion's own TWCC interceptor stamps a packet when the
// application's track reader pulls it through the interceptor chain, after a hand-over through
// an unbuffered channel shared by every track of the connection: a subscriber of 24 cameras
// in one Go process on one core then reports arrival times that lag the socket by 20–100 ms
// every second or two (measured from the server's send history, 2026-12-07), which a
// delay-based estimator reads as a queue building up. The RTP header and its extensions are not
// encrypted by SRTP, so the transport-wide sequence number can be read before Pion decrypts.

import (
	"encoding/binary"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

// twccInterval is how often feedback is sent (Pion's interceptor default, and about Chrome's).
const twccInterval = 100 * time.Millisecond

var extmapTWCC = regexp.MustCompile(`a=extmap:(\d+)(?:/\w+)? ` + regexp.QuoteMeta(sdp.TransportCCURI))

// socketTWCC records the arrival of every RTP packet read from one connection's sockets.
type socketTWCC struct {
	extID atomic.Uint32 // 0 until the remote description names it
	start time.Time
	mu    sync.Mutex
	rec   *twcc.Recorder
}

func newSocketTWCC() *socketTWCC {
	return &socketTWCC{start: time.Now(), rec: twcc.NewRecorder(0)}
}

// setRemote reads the transport-wide-cc extension's id from a remote description.
func (s *socketTWCC) setRemote(description string) {
	if id := twccExtID(description); id != 0 {
		s.extID.Store(uint32(id))
	}
}

// twccExtID is the transport-wide-cc extension's one-byte id in a description, 0 if absent.
func twccExtID(description string) uint8 {
	if m := extmapTWCC.FindStringSubmatch(description); m != nil {
		if id, err := strconv.Atoi(m[1]); err == nil && id > 0 && id < 15 {
			return uint8(id)
		}
	}
	return 0
}

// observe records one datagram if it is RTP carrying the extension.
func (s *socketTWCC) observe(b []byte) {
	seq, ok := transportSeq(b, uint8(s.extID.Load()))
	if !ok {
		return
	}
	arrival := time.Since(s.start).Microseconds()
	s.mu.Lock()
	s.rec.Record(binary.BigEndian.Uint32(b[8:]), seq, arrival)
	s.mu.Unlock()
}

// transportSeq reads the transport-wide sequence number of a datagram if it is RTP carrying the
// extension `id` (RFC 7983: first byte 128–191; RFC 5761: payload types 64–95 are RTCP). One-byte
// header extensions only, which is what both servers write.
func transportSeq(b []byte, id uint8) (uint16, bool) {
	if id == 0 || len(b) < 12 || b[0]&0xc0 != 0x80 || b[0]&0x10 == 0 {
		return 0, false
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		return 0, false
	}
	at := 12 + 4*int(b[0]&0x0f)
	if len(b) < at+4 || binary.BigEndian.Uint16(b[at:]) != 0xbede {
		return 0, false
	}
	end := at + 4 + 4*int(binary.BigEndian.Uint16(b[at+2:]))
	if end > len(b) {
		return 0, false
	}
	for i := at + 4; i < end; {
		if b[i] == 0 { // padding between elements
			i++
			continue
		}
		elementID, length := b[i]>>4, int(b[i]&0x0f)+1
		if elementID == 15 {
			return 0, false
		}
		if elementID == id && length == 2 && i+3 <= end {
			return binary.BigEndian.Uint16(b[i+1:]), true
		}
		i += 1 + length
	}
	return 0, false
}

// run sends feedback every twccInterval until closed() reports true.
func (s *socketTWCC) run(pc *webrtc.PeerConnection, closed func() bool) {
	ticker := time.NewTicker(twccInterval)
	defer ticker.Stop()
	for range ticker.C {
		if closed() {
			return
		}
		s.mu.Lock()
		packets := s.rec.BuildFeedbackPacket()
		s.mu.Unlock()
		if len(packets) > 0 {
			_ = pc.WriteRTCP(packets)
		}
	}
}

// stampNet is the host's network whose UDP sockets show every datagram read to a socketTWCC.
type stampNet struct {
	*stdnet.Net
	twcc *socketTWCC
}

func (n *stampNet) ListenUDP(network string, local *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, local)
	if err != nil {
		return nil, err
	}
	return &stampConn{UDPConn: conn, twcc: n.twcc}, nil
}

type stampConn struct {
	transport.UDPConn
	twcc *socketTWCC
}

func (c *stampConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(b)
	if err == nil {
		c.twcc.observe(b[:n])
	}
	return n, addr, err
}

// socketTWCCAPI is roomAPI's stack with transport-wide CC negotiated as before but fed back
// from the socket (Pion's TWCC interceptor left out), for one participant's connections.
func socketTWCCAPI(ip string, t *socketTWCC) (*webrtc.API, error) {
	m, err := roomMediaEngine()
	if err != nil {
		return nil, err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, kind)
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, err
		}
	}
	r := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, r); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(r); err != nil {
		return nil, err
	}
	s, err := settingEngine(ip)
	if err != nil {
		return nil, err
	}
	host, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	s.SetNet(&stampNet{Net: host, twcc: t})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(r),
		webrtc.WithSettingEngine(s)), nil
}
