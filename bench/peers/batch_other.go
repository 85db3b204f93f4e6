//go:build !(linux && (amd64 || arm64))

package main

import "net"

// batchReader reads one datagram at a time where recvmmsg(2) is not wired up.
type batchReader struct {
	conn  *net.UDPConn
	dgram []datagram
}

func newBatchReader(conn *net.UDPConn) (*batchReader, error) {
	return &batchReader{conn: conn, dgram: []datagram{{buf: make([]byte, 1500)}}}, nil
}

func (r *batchReader) read() ([]datagram, error) {
	n, from, err := r.conn.ReadFromUDPAddrPort(r.dgram[0].buf)
	if err != nil {
		return nil, err
	}
	r.dgram[0].n, r.dgram[0].from = n, from
	return r.dgram, nil
}
