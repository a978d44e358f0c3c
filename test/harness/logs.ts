// Reading a task log in tests: the text of its CRI files (rotated ones first), as the
// task wrote it, or its records with their streams.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LineJoiner, type LogRecord, parseRecord } from '../../src/logs/cri.js';
import { logFileNames } from '../../src/logs/files.js';

/** The files of the log `file`, oldest first (synchronous, for waitFor conditions). */
export function logFilesSync(file: string): string[] {
  let names: string[];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return [];
  }
  return logFileNames(path.basename(file), names).map((n) => path.join(path.dirname(file), n));
}

/** Every record of the log `file`; a line that is not a record fails the test. */
export function logRecords(file: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const f of logFilesSync(file)) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue; // rotated away meanwhile
    }
    for (const line of text.split('\n').slice(0, -1)) {
      const r = parseRecord(line);
      if (!r) throw new Error(`not a CRI log record in ${f}: ${JSON.stringify(line.slice(0, 200))}`);
      out.push(r);
    }
  }
  return out;
}

/** The text the task wrote to the log `file`, both streams, one line a line ("" if none). */
export function logText(file: string): string {
  const joiner = new LineJoiner();
  let out = '';
  for (const r of logRecords(file)) {
    const line = joiner.push(r);
    if (line) out += `${line.text}\n`;
  }
  // A line still being written (its P records so far) is output too, as `converge logs` shows it.
  for (const line of joiner.flush()) out += `${line.text}\n`;
  return out;
}
