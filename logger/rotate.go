package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// How long a file that could not be opened is left alone before the next try; output meanwhile is dropped.
const reopenAfter = 5 * time.Second

// rotator appends records to a file and, before a write would take it past maxSize,
// renames it to <file>.1 (and .1 to .2, ...), keeping maxFiles files in all. Records are
// never split across files.
type rotator struct {
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
	failedAt time.Time
}

func newRotator(path string, maxSize int64, maxFiles int) *rotator {
	r := &rotator{path: path, maxSize: maxSize, maxFiles: maxFiles}
	r.removeBeyond()
	r.open()
	return r
}

// rotatedName is the name of the i-th older file: <path>.i (0 is the current one).
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// removeBeyond removes rotated files that a larger --max-files left behind.
func (r *rotator) removeBeyond() {
	names, _ := filepath.Glob(r.path + ".*")
	prefix := r.path + "."
	for _, name := range names {
		if i, err := strconv.Atoi(strings.TrimPrefix(name, prefix)); err == nil && i >= r.maxFiles {
			_ = os.Remove(name)
		}
	}
}

func (r *rotator) open() {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		r.failedAt = time.Now()
		fmt.Fprintf(os.Stderr, "converge-logger: %v\n", err)
		return
	}
	r.f = f
	r.size = 0
	if st, err := f.Stat(); err == nil {
		r.size = st.Size()
	}
}

func (r *rotator) rotate() {
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
	if r.maxFiles == 1 {
		_ = os.Remove(r.path)
	}
	for i := r.maxFiles - 1; i >= 1; i-- {
		_ = os.Rename(rotatedName(r.path, i-1), rotatedName(r.path, i))
	}
	r.open()
}

// write appends whole records, rotating at record boundaries.
func (r *rotator) write(p []byte) {
	if r == nil || len(p) == 0 {
		return
	}
	if r.f == nil {
		if time.Since(r.failedAt) < reopenAfter {
			return
		}
		r.open()
		if r.f == nil {
			return
		}
	}
	for len(p) > 0 && r.f != nil {
		n := len(p)
		if r.size+int64(n) > r.maxSize {
			n = fitting(p, r.maxSize-r.size)
			if n == 0 && r.size > 0 {
				r.rotate()
				continue
			}
			if n == 0 { // one record longer than a whole file: it gets a file of its own
				n = bytes.IndexByte(p, '\n') + 1
			}
		}
		written, err := r.f.Write(p[:n])
		r.size += int64(written)
		if err != nil {
			// A full disk, say: the rest of this write is dropped, and the file tried again later.
			_ = r.f.Close()
			r.f = nil
			r.failedAt = time.Now()
			return
		}
		p = p[n:]
	}
}

// fitting is how many bytes of whole records at the start of p fit in room.
func fitting(p []byte, room int64) int {
	if room <= 0 {
		return 0
	}
	if int64(len(p)) < room {
		room = int64(len(p))
	}
	return bytes.LastIndexByte(p[:room], '\n') + 1
}

func (r *rotator) close() {
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
}
