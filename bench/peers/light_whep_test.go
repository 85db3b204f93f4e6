package main

// The light WHEP viewer's bookkeeping: `bench/peers/build.sh --test` (test/bench/pion-peers.test.ts runs it).

import (
	"math"
	"reflect"
	"testing"
)

func TestNackLogGapsAndRepairs(t *testing.T) {
	var n nackLog
	for _, ext := range []uint64{1000, 1001, 1003, 1004, 1007} {
		n.add(ext)
	}
	if got, want := n.missing(), []uint16{1002, 1005, 1006}; !reflect.DeepEqual(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	n.add(1002) // a repair closes the first gap and moves the consecutive run on
	n.add(1006)
	if got, want := n.missing(), []uint16{1005}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after repairs: missing %v, want %v", got, want)
	}
	if n.consecutive != 1004 {
		t.Fatalf("consecutive %d, want 1004", n.consecutive)
	}
	// A gap that falls out of the newest nackLogSize numbers is given up.
	n.add(1005 + nackLogSize + 10)
	for _, s := range n.missing() {
		if s == 1005 {
			t.Fatalf("1005 still NACKed a log's length later")
		}
	}
}

func TestNackLogWraps(t *testing.T) {
	var n nackLog
	first := extendSeq(0, 65534)
	n.add(first)
	n.add(extendSeq(first, 1)) // 65535 and 0 missing across the wrap
	if got, want := n.missing(), []uint16{65535, 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
}

func TestArrivalWindowCountsEachNumberOnce(t *testing.T) {
	windowStart.Store(100)
	windowEnd.Store(200)
	defer func() { windowStart.Store(math.MaxInt64); windowEnd.Store(math.MaxInt64) }()
	var w arrivalWindow
	highest := uint64(0)
	see := func(ext uint64, at int64, media bool) {
		w.see(ext, highest, at, media)
		if ext > highest {
			highest = ext
		}
	}
	see(70000, 50, true)  // before the window
	see(70001, 100, true) // the window starts after 70000
	see(70003, 120, true) // 70002 lost for now
	see(70004, 130, false)
	see(70001, 140, true) // a resend of a counted packet
	see(70005, 150, true)
	see(70006, 200, true) // arrives after the end: the window ends after 70005
	see(70002, 210, true) // a repair of a window packet, after the end: counts
	see(70000, 220, true) // a resend from before the window: does not
	if got := w.received(highest); got != 4 {
		t.Fatalf("received %d, want 4 (70001, 70002, 70003, 70005; 70004 is padding)", got)
	}
	if w.first != 70001 || w.end != 70006 || w.dup != 1 {
		t.Fatalf("first %d end %d dup %d", w.first, w.end, w.dup)
	}
}

func TestReceptionReport(t *testing.T) {
	var r receptionStats
	r.start(1<<16 | 10)
	r.received = 8 // of 10 expected: 10..19
	b := r.report(1234, 1<<16|19, senderReport{}, 0)
	if b.LastSequenceNumber != 19 || b.TotalLost != 2 || b.FractionLost != 2*256/10 {
		t.Fatalf("first report %+v", b)
	}
	r.received += 10 // 20..29 all arrived
	b = r.report(1234, 1<<16|29, senderReport{lsr: 7, at: 1e9}, 3e9)
	if b.TotalLost != 2 || b.FractionLost != 0 || b.LastSenderReport != 7 || b.Delay != 2*65536 {
		t.Fatalf("second report %+v", b)
	}
}

func TestParseWHEPAnswer(t *testing.T) {
	a := parseWHEPAnswer("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=extmap:3 " +
		"http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
		"a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n" +
		"a=rtpmap:97 rtx/90000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	if a.twccID != 3 || a.kind[96] != kindVideo || a.kind[97] != kindOther || a.kind[111] != kindAudio {
		t.Fatalf("%d %d %d %d", a.twccID, a.kind[96], a.kind[97], a.kind[111])
	}
	if a.clock[96] != 90000 || a.clock[111] != 48000 || !a.nack[96] || a.nack[111] {
		t.Fatalf("clock %d %d nack %v %v", a.clock[96], a.clock[111], a.nack[96], a.nack[111])
	}
}
