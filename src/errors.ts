// The one error root: every error converge raises carries a stable `code` to branch on
// (never the message) and keeps its `cause`, as undici's errors do.

export class ConvergeError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The stable code of any error (ours, or a Node system error such as ENOENT). */
export function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A message for logs and status: the error's own, never "[object Object]". */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
