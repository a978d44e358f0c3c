package main

import (
	"bytes"
	"io"
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

// timestamp is the record time: UTC, so that files sort and compare as text.
func timestamp(buf []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
}

// The most bytes of records held before they are written.
const batchMax = 32 << 10

// copyStream reads one stream until it ends and hands each read's records to out at once.
// A line is held until its newline comes or it fills lineMax bytes (then it goes as P); what
// is left at the end goes as the last, full record.
func copyStream(r io.Reader, stream string, lineMax int, out *rotator) {
	in := make([]byte, lineMax)
	var batch, ts []byte
	pending := 0 // bytes of an unfinished line at the start of in
	for {
		n, err := r.Read(in[pending:])
		pending += n
		if n > 0 {
			ts = timestamp(ts, time.Now())
			batch = batch[:0]
			rest := in[:pending]
			for {
				i := bytes.IndexByte(rest, '\n')
				if i < 0 {
					break
				}
				batch = appendRecord(batch, ts, stream, true, rest[:i])
				rest = rest[i+1:]
				if len(batch) >= batchMax { // many short lines: keep the buffer small
					out.write(batch)
					batch = batch[:0]
				}
			}
			if len(rest) == len(in) {
				batch = appendRecord(batch, ts, stream, false, rest)
				rest = rest[:0]
			}
			pending = copy(in, rest)
			out.write(batch)
		}
		if err != nil {
			if pending > 0 {
				ts = timestamp(ts, time.Now())
				out.write(appendRecord(batch[:0], ts, stream, true, in[:pending]))
			}
			return
		}
	}
}
