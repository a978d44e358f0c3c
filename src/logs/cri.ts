// The CRI log format the task log driver (logger/) writes, one record a line:
//   <RFC3339Nano time> <stdout|stderr> <F|P> <text>
// F ends a line of the task's output; P is part of a longer line, continued by the next
// records of the same stream. Parsing and joining records into lines are here, pure.

export type Stream = 'stdout' | 'stderr';

export interface LogRecord {
  /** The time as written: RFC 3339 in UTC with nine fraction digits, so that times compare as text. */
  time: string;
  stream: Stream;
  /** False for a P record: the line goes on in the next record of its stream. */
  full: boolean;
  text: string;
}

/** One line of the output, with the time of its first record. */
export interface LogLine {
  time: string;
  stream: Stream;
  text: string;
}

const RECORD = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s;

/** The record in one line of a log file (without its newline); undefined for anything else. */
export function parseRecord(line: string): LogRecord | undefined {
  const m = RECORD.exec(line);
  if (!m) return undefined;
  return { time: m[1], stream: m[2] as Stream, full: m[3] === 'F', text: m[4] };
}

export function formatRecord(r: LogRecord): string {
  return `${r.time} ${r.stream} ${r.full ? 'F' : 'P'} ${r.text}\n`;
}

/** Milliseconds since the epoch of a record's time (sub-millisecond digits dropped); NaN if unreadable. */
export function timeOf(time: string): number {
  return Date.parse(time);
}

/**
 * Joins records into lines, per stream: P records wait for the F that ends their line.
 * Feed it records in file order; `flush` gives what is left unfinished (a line cut by a
 * rotation that dropped its start, or still being written).
 */
export class LineJoiner {
  private readonly open = new Map<Stream, LogLine>();

  push(r: LogRecord): LogLine | undefined {
    const started = this.open.get(r.stream);
    const line = started ? { ...started, text: started.text + r.text } : { time: r.time, stream: r.stream, text: r.text };
    if (!r.full) {
      this.open.set(r.stream, line);
      return undefined;
    }
    this.open.delete(r.stream);
    return line;
  }

  flush(): LogLine[] {
    const rest = [...this.open.values()].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    this.open.clear();
    return rest;
  }
}
