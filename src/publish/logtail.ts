// The last lines of a container's task log for the status page, bounded whatever the log
// holds: at most MAX_TAIL_LINES lines from at most MAX_TAIL_BYTES of records read from the
// end (logs/read.ts reads the CRI files, rotated ones too), each line cut at MAX_LINE_CHARS.

import { closeLog, joinLines, openLog, recordsTail } from '../logs/read.js';

export const MAX_TAIL_LINES = 1000;
export const MAX_TAIL_BYTES = 256 * 1024;
export const MAX_LINE_CHARS = 4096;

export interface LogTail {
  lines: string[];
  /** Older output exists before the first line (the byte window did not reach the log's start). */
  partial: boolean;
}

/**
 * The last `lines` lines (1..MAX_TAIL_LINES) of the log whose current file is `file`. No
 * log yet (the task has not written, or never started) is empty, not an error.
 */
export async function readLogTail(file: string, lines: number, maxBytes = MAX_TAIL_BYTES): Promise<LogTail> {
  const want = Math.max(1, Math.min(MAX_TAIL_LINES, Math.floor(lines)));
  const files = await openLog(file);
  try {
    const bound: { maxBytes: number; hit?: boolean } = { maxBytes };
    const all = joinLines(await recordsTail(files, want + 1, undefined, bound));
    const out = all.slice(-want).map((l) => (l.text.length > MAX_LINE_CHARS ? `${l.text.slice(0, MAX_LINE_CHARS)}…` : l.text));
    return { lines: out, partial: all.length > want || bound.hit === true };
  } finally {
    await closeLog(files);
  }
}
