//go:build linux && (amd64 || arm64)

package main

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// batchReader reads up to lightBatch datagrams per recvmmsg(2), into buffers and address slots
// it owns, so a read allocates nothing per packet (x/net's ReadBatch allocates each sender's
// address, which the light listeners' counting does not need).
type batchReader struct {
	raw   syscall.RawConn
	hdrs  []mmsghdr
	names []syscall.RawSockaddrInet4
	iovs  []syscall.Iovec
	dgram []datagram
	// Read by the poller's callback: set before, read after raw.Read.
	got   int
	errno syscall.Errno
	call  func(fd uintptr) bool
}

// mmsghdr is struct mmsghdr of <sys/socket.h>: a msghdr and the length received.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

func newBatchReader(conn *net.UDPConn) (*batchReader, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &batchReader{raw: raw, hdrs: make([]mmsghdr, lightBatch),
		names: make([]syscall.RawSockaddrInet4, lightBatch), iovs: make([]syscall.Iovec, lightBatch),
		dgram: make([]datagram, lightBatch)}
	for i := range r.hdrs {
		r.dgram[i].buf = make([]byte, 1500)
		r.iovs[i].Base = &r.dgram[i].buf[0]
		r.iovs[i].SetLen(len(r.dgram[i].buf))
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.Iovlen = 1
	}
	// One closure for the reader's life: a fresh one per read would be an allocation.
	r.call = r.recvmmsg
	return r, nil
}

// recvmmsg is the poller's callback: false (wait for readiness) when nothing is queued.
func (r *batchReader) recvmmsg(fd uintptr) bool {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
	}
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
		uintptr(len(r.hdrs)), 0, 0, 0)
	if errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK {
		return false
	}
	r.got, r.errno = int(n), errno
	return true
}

// read waits for datagrams and returns those read (at most lightBatch), valid until the next.
func (r *batchReader) read() ([]datagram, error) {
	if err := r.raw.Read(r.call); err != nil {
		return nil, err
	}
	if r.errno != 0 {
		return nil, r.errno
	}
	for i := 0; i < r.got; i++ {
		name := &r.names[i]
		// sin_port is in network byte order.
		be := (*[2]byte)(unsafe.Pointer(&name.Port))
		port := uint16(be[0])<<8 | uint16(be[1])
		r.dgram[i].n = int(r.hdrs[i].len)
		r.dgram[i].from = netip.AddrPortFrom(netip.AddrFrom4(name.Addr), port)
	}
	return r.dgram[:r.got], nil
}
