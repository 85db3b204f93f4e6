// Command quetzal-peers is the bench's Pion tooling: a load generator that publishes over WHIP
// and plays over WHEP with viewers that behave like browsers, and a small Pion SFU (WHIP in,
// WHEP out) that the same load drives, so every Quetzal figure is a ratio to Pion measured on
// the same machine in the same run; and room participants over the room signalling (room.go).
//
//	quetzal-peers load -url http://127.0.0.1:8080 -viewers 40 -window 15s
//	quetzal-peers sfu -listen 127.0.0.1:8090 -ip 127.0.0.1
//	quetzal-peers room -url http://127.0.0.1:8080 -room ID -speaker-token T -speakers 5 -video
//
// All print JSON lines on stdout (events and the final result) for the bench to read.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
)

// generatorGCPercent is the load generators' GOGC unless the environment sets one. One process
// stands for many browsers, and its collections stall all of them at once: with Go's default
// (100) a 25-person meeting's receivers showed 20–100 ms arrival spikes together, which the
// server's delay-based estimator read as congestion (65.7 % of the video delivered, p99 40 ms;
// with 1000: 99.6 %, p99 8 ms, on the same machine; the heap stays in the tens of MB). The Pion
// SFU keeps Go's default: it is measured as it ships.
const generatorGCPercent = 1000

func generatorGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(generatorGCPercent)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: quetzal-peers load|sfu|room [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		generatorGC()
		err = runLoad(os.Args[2:])
	case "sfu":
		err = runSFU(os.Args[2:])
	case "room":
		generatorGC()
		err = runRoom(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (load, sfu or room)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quetzal-peers:", err)
		os.Exit(1)
	}
}

var emitMu sync.Mutex

// emit prints one JSON line on stdout.
func emit(v map[string]interface{}) {
	emitMu.Lock()
	defer emitMu.Unlock()
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}
