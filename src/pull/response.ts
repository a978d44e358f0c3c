// What a registry or token server says is untrusted text on its way to a container's status,
// a Kubernetes status and Events: an error body may be megabytes long, span many lines or
// carry terminal escapes. Here bodies are read only up to a bound (the rest is dropped with
// the connection), and every piece of their text that a message repeats is made one
// short line with control characters escaped.

import { oneLine } from '../spec/quote.js';
import { ImageNotFoundError, type PullError, RegistryError, UnauthorizedError } from './errors.js';

/** How much of a remote party's own words a message repeats. */
export const REMOTE_TEXT_MAX = 200;
/** An error document is small; what is past this is not read at all. */
export const ERROR_BODY_MAX = 64 << 10;

/** Remote text as a message may show it: one line, escaped, at most `max` characters. */
export function remoteText(text: string, max = REMOTE_TEXT_MAX): string {
  return oneLine(text.trim(), max);
}

/**
 * At most `max` bytes of a response body; `over` says there was more (which is not read:
 * the body is cancelled, so a huge one costs nothing).
 */
export async function readBounded(res: Response, max: number): Promise<{ data: Buffer; over: boolean }> {
  if (!res.body) return { data: Buffer.alloc(0), over: false };
  const reader = res.body.getReader();
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { data: Buffer.concat(parts, size), over: false };
      const room = max - size;
      if (value.length > room) {
        parts.push(Buffer.from(value.buffer, value.byteOffset, room));
        return { data: Buffer.concat(parts, max), over: true };
      }
      parts.push(Buffer.from(value.buffer, value.byteOffset, value.length));
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The registry's own words on an error: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}, bounded and escaped. */
export async function errorDetail(res: Response): Promise<string> {
  const { data } = await readBounded(res, ERROR_BODY_MAX).catch(() => ({ data: Buffer.alloc(0) }));
  const text = data.toString('utf8');
  try {
    const json = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = json.errors?.[0];
    if (first) {
      const parts = [first.code, first.message].filter((p): p is string => typeof p === 'string' && p !== '');
      return remoteText(parts.join(': '));
    }
  } catch {
    // not JSON (or cut short): the text itself, bounded
  }
  return remoteText(text);
}

/** The typed error for a status that is not success; `detail` is already made safe. */
export function statusError(status: number, what: string, detail: string): PullError {
  const msg = `${what}: ${status}${detail ? ` ${detail}` : ''}`;
  if (status === 401 || status === 403) return new UnauthorizedError(`access denied to ${msg}`);
  if (status === 404) return new ImageNotFoundError(`not found: ${msg}`);
  return new RegistryError(msg);
}
