package main

import (
	"bytes"
	"time"
)

// The CRI log format, one record a line:
//   <RFC3339Nano time> <stdout|stderr> <F|P> <text>
// F ends a line of the task's output; P is a part of a longer line whose rest follows in
// later records of the same stream.

// appendRecord appends one record to buf.
func appendRecord(buf []byte, ts []byte, stream string, full bool, text []byte) []byte {
	buf = append(buf, ts...)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	if full {
		buf = append(buf, " F "...)
	} else {
		buf = append(buf, " P "...)
	}
	buf = append(buf, text...)
	return append(buf, '\n')
}

// The record time: RFC 3339 in UTC with all nine digits of the fraction (RFC3339Nano drops
// trailing zeros), so that times compare as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func timestamp(buf []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(buf[:0], timeLayout)
}

// The most bytes of records held before they are written.
const batchMax = 32 << 10

// How long the start of an unfinished line is held for its newline before it goes as a P
// record anyway: a prompt or a progress line without a newline shows up while the task runs.
const holdMax = time.Second

// splitter turns the bytes of one stream into records. A line is held until its newline
// comes, it fills lineMax bytes, or it has waited holdMax (then what is held goes as P);
// what is left at the end of the stream goes as the last, full record.
type splitter struct {
	stream  string
	in      []byte // lineMax bytes: in[:pending] is the start of an unfinished line
	pending int
	held    time.Time // when in[:pending] began to wait
	ts      []byte
	batch   []byte
}

func newSplitter(stream string, lineMax int) *splitter {
	return &splitter{stream: stream, in: make([]byte, lineMax)}
}

// space is where the next read goes.
func (s *splitter) space() []byte {
	return s.in[s.pending:]
}

// took writes the records that n more bytes in space() complete; one time for all of them.
func (s *splitter) took(n int, out *rotator) {
	old := s.pending
	s.pending += n
	s.ts = timestamp(s.ts, time.Now())
	s.batch = s.batch[:0]
	rest := s.in[:s.pending]
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		s.batch = appendRecord(s.batch, s.ts, s.stream, true, rest[:i])
		rest = rest[i+1:]
		if len(s.batch) >= batchMax { // many short lines: keep the buffer small
			out.write(s.batch)
			s.batch = s.batch[:0]
		}
	}
	if len(rest) == len(s.in) {
		s.batch = appendRecord(s.batch, s.ts, s.stream, false, rest)
		rest = rest[:0]
	}
	if len(rest) > 0 && (old == 0 || len(rest) < s.pending) { // nothing held before, or a newline came
		s.held = time.Now() // a new unfinished line begins to wait
	}
	s.pending = copy(s.in, rest)
	out.write(s.batch)
}

// flushHeld writes the unfinished line as a P record once it has waited holdMax.
func (s *splitter) flushHeld(out *rotator, now time.Time) {
	if s.pending > 0 && now.Sub(s.held) >= holdMax {
		s.ts = timestamp(s.ts, now)
		out.write(appendRecord(s.batch[:0], s.ts, s.stream, false, s.in[:s.pending]))
		s.pending = 0
	}
}

// end writes what is left of an unfinished line.
func (s *splitter) end(out *rotator) {
	if s.pending > 0 {
		s.ts = timestamp(s.ts, time.Now())
		out.write(appendRecord(s.batch[:0], s.ts, s.stream, true, s.in[:s.pending]))
		s.pending = 0
	}
}
