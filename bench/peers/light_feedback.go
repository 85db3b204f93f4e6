package main

// A light WHEP viewer's RTCP, built from what the socket saw (light_whep.go) on the schedule the
// full viewers' Pion interceptors keep (interceptor 0.1.12, Debian's): transport-wide CC
// feedback every 100 ms once a packet carried the extension, a receiver report per SSRC every
// second, NACKs every 100 ms, and one PLI when the video starts. One compound packet per tick
// (report first when due) instead of one per interceptor: the same content, fewer SRTCP writes.

import (
	"time"

	"github.com/pion/rtcp"
)

// feedbackCounts is what a light viewer sent, for the result.
type feedbackCounts struct {
	twcc, reports, nacks, nackedPackets, plis int64
}

// lightReportEvery: receiver reports go out every this many 100 ms ticks (1 s, Pion's interval).
const lightReportEvery = 10

// run sends the viewer's feedback until its connection closes.
func (l *lightViewer) run() {
	ticker := time.NewTicker(twccInterval)
	defer ticker.Stop()
	for tick := 1; ; {
		reports, periodic := false, false
		select {
		case <-l.kick:
		case <-ticker.C:
			periodic = true
			reports = tick%lightReportEvery == 0
			tick++
		}
		if l.closed.Load() {
			return
		}
		if packets := l.feedback(periodic, reports); len(packets) > 0 {
			_ = l.pc.WriteRTCP(packets)
		}
	}
}

// feedback builds what is due: the owed PLI always, the rest on the periodic ticks.
func (l *lightViewer) feedback(periodic, reports bool) []rtcp.Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rtcp.Packet
	if l.pliFor != 0 {
		out = append(out, &rtcp.PictureLossIndication{SenderSSRC: l.ssrc, MediaSSRC: l.pliFor})
		l.pliFor = 0
		l.sent.plis++
	}
	if !periodic {
		return out
	}
	if reports {
		at := now()
		rr := &rtcp.ReceiverReport{SSRC: l.ssrc}
		for _, s := range l.streams {
			rr.Reports = append(rr.Reports, s.rr.report(s.ssrc, s.highest, l.srs[s.ssrc], at))
		}
		if len(rr.Reports) > 0 {
			out = append([]rtcp.Packet{rr}, out...)
			l.sent.reports++
		}
	}
	if l.twccSeen {
		out = append(out, l.twcc.BuildFeedbackPacket()...)
		l.sent.twcc++
	}
	for _, s := range l.streams {
		if s.nack == nil {
			continue
		}
		if missing := s.nack.missing(); len(missing) > 0 {
			out = append(out, &rtcp.TransportLayerNack{SenderSSRC: l.ssrc, MediaSSRC: s.ssrc,
				Nacks: rtcp.NackPairsFromSequenceNumbers(missing)})
			l.sent.nacks++
			l.sent.nackedPackets += int64(len(missing))
		}
	}
	return out
}

// ---- receiver reports (RFC 3550 §6.4.1, appendix A.3 and A.8) ----

// receptionStats is one SSRC's counts for its receiver reports.
type receptionStats struct {
	base          uint64 // extended sequence number of the first packet
	received      int64  // every packet, retransmissions and padding included (RFC 3550 A.3)
	expectedPrior int64
	receivedPrior int64
	transit       int64 // the last packet's arrival minus its RTP timestamp, in clock units
	jitter        int64 // interarrival jitter × 16 (A.8)
}

func (r *receptionStats) start(ext uint64) { r.base = ext }

// jitterStep folds one in-order packet into the jitter (A.8), with the socket's read time as
// its arrival.
func (r *receptionStats) jitterStep(at int64, ts uint32, clock uint32) {
	if clock == 0 {
		return
	}
	transit := at/1000*int64(clock)/1_000_000 - int64(ts)
	if r.transit != 0 {
		d := int64(int32(transit - r.transit)) // RTP timestamps wrap at 2^32
		if d < 0 {
			d = -d
		}
		r.jitter += d - (r.jitter+8)>>4
	}
	r.transit = transit
}

// report is the reception report block for `ssrc`, and starts the next interval.
func (r *receptionStats) report(ssrc uint32, highest uint64, sr senderReport, at int64) rtcp.ReceptionReport {
	expected := int64(highest-r.base) + 1
	lost := expected - r.received
	if lost < 0 {
		lost = 0 // duplicates outnumber losses; the field is kept non-negative, as Pion does
	}
	if lost > 0x7fffff {
		lost = 0x7fffff
	}
	expectedInterval := expected - r.expectedPrior
	lostInterval := expectedInterval - (r.received - r.receivedPrior)
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if expectedInterval > 0 && lostInterval > 0 {
		fraction = uint8(lostInterval << 8 / expectedInterval)
	}
	block := rtcp.ReceptionReport{SSRC: ssrc, FractionLost: fraction, TotalLost: uint32(lost),
		// extendSeq starts one cycle up: the wire's cycle count starts at 0.
		LastSequenceNumber: uint32(highest - 1<<16), Jitter: uint32(r.jitter >> 4)}
	if sr.at != 0 {
		block.LastSenderReport = sr.lsr
		block.Delay = uint32(float64(at-sr.at) / 1e9 * 65536)
	}
	return block
}

// ---- NACKs ----

// nackLogSize is how many of the newest sequence numbers are NACKed while missing (Pion's
// generator: 512, about a second of this bench's video).
const nackLogSize = 512

// nackLog is which of the newest nackLogSize sequence numbers arrived. As Pion's generator, every
// 100 ms it NACKs each one missing after the last run of consecutive arrivals: a gap is first
// NACKed 0–100 ms after a later packet shows it, then again every 100 ms until it arrives or
// falls out of the log (about 10 tries at 500 packets/s).
type nackLog struct {
	bits        [nackLogSize / 64]uint64
	end         uint64 // the newest extended sequence number, 0 before the first
	consecutive uint64 // every number up to here arrived (or fell out of the log)
}

func (n *nackLog) has(ext uint64) bool { return n.bits[ext%nackLogSize/64]&(1<<(ext%64)) != 0 }
func (n *nackLog) set(ext uint64)      { n.bits[ext%nackLogSize/64] |= 1 << (ext % 64) }
func (n *nackLog) clear(ext uint64)    { n.bits[ext%nackLogSize/64] &^= 1 << (ext % 64) }

func (n *nackLog) add(ext uint64) {
	switch {
	case n.end == 0:
		n.end, n.consecutive = ext, ext
	case ext > n.end:
		// The slots between hold numbers a log's length older: clear them (all, after a jump).
		from := n.end + 1
		if ext-from > nackLogSize {
			from = ext - nackLogSize
		}
		for i := from; i < ext; i++ {
			n.clear(i)
		}
		n.end = ext
		if ext-n.consecutive > nackLogSize {
			n.consecutive = ext - nackLogSize
		}
	case n.end-ext >= nackLogSize || ext <= n.consecutive:
		return // too old to matter, or already counted
	}
	n.set(ext)
	for n.consecutive < n.end && n.has(n.consecutive+1) {
		n.consecutive++
	}
}

// missing is every number after the consecutive run that has not arrived.
func (n *nackLog) missing() []uint16 {
	var out []uint16
	for i := n.consecutive + 1; i < n.end; i++ {
		if !n.has(i) {
			out = append(out, uint16(i))
		}
	}
	return out
}
