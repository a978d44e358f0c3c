package main

import (
	"os"
	"syscall"
	"time"
)

// How long one wait for output lasts at most, so that a SIGTERM is seen.
const waitSlice = 500 * time.Millisecond

// source is one of the task's streams: an inherited pipe, or (run by hand) a file.
type source struct {
	fd    int
	split *splitter
	// plain: a descriptor epoll does not take (a regular file), read whenever.
	plain bool
	ready bool
}

// pump reads the streams until both end, or a SIGTERM comes and drainGrace passes. One
// loop reads both through epoll, one read per ready stream per turn: a stream that never
// runs dry cannot keep the other waiting, whatever Go's scheduler does, and there is no
// lock and one busy thread per logger.
func pump(fds []int, names []string, lineMax int, out *rotator, term <-chan os.Signal) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		ep = -1
	}
	var open []*source
	for i, fd := range fds {
		s := &source{fd: fd, split: newSplitter(names[i], lineMax)}
		if ep < 0 {
			// No epoll (out of descriptors?): blocking reads in turn, slower to switch but still reading.
			s.plain = true
		} else {
			_ = syscall.SetNonblock(fd, true)
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
			if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
				if err != syscall.EPERM {
					continue // not open: no such stream
				}
				s.plain = true // a regular file (run by hand)
			}
		}
		open = append(open, s)
	}
	events := make([]syscall.EpollEvent, len(fds))
	var deadline time.Time
	for len(open) > 0 {
		select {
		case <-term:
			if deadline.IsZero() {
				deadline = time.Now().Add(drainGrace)
			}
		default:
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		waitReady(ep, events, open)
		kept := open[:0]
		for _, s := range open {
			if s.ready && !readOnce(s, out) {
				s.split.end(out)
				_ = syscall.Close(s.fd)
				continue
			}
			kept = append(kept, s)
		}
		open = kept
		now := time.Now()
		for _, s := range open {
			s.split.flushHeld(out, now)
		}
	}
	for _, s := range open {
		s.split.end(out)
	}
}

// waitReady waits (up to waitSlice) until a stream has something to read or has ended,
// and marks those that have.
func waitReady(ep int, events []syscall.EpollEvent, open []*source) {
	timeout := int(waitSlice / time.Millisecond)
	for _, s := range open {
		s.ready = s.plain
		if s.plain {
			timeout = 0
		}
	}
	if ep < 0 {
		return
	}
	n, err := syscall.EpollWait(ep, events, timeout)
	if err != nil {
		return // EINTR (a signal): look again
	}
	for _, ev := range events[:n] {
		for _, s := range open {
			if int32(s.fd) == ev.Fd {
				s.ready = true
			}
		}
	}
}

// readOnce reads what one read gives and writes its records; false once the stream has ended.
func readOnce(s *source, out *rotator) bool {
	n, err := syscall.Read(s.fd, s.split.space())
	if n > 0 {
		s.split.took(n, out)
		return true
	}
	return err == syscall.EAGAIN || err == syscall.EINTR
}
