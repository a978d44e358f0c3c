// How a pull's progress reads, on a status row and on `converge pull`'s terminal.

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** "pulling IMAGE: 1.2 MiB of 3.4 MiB (35%)", or "...: resolving" before the size is known. */
export function pullMessage(p: { image: string; done: number; total: number }): string {
  if (p.total <= 0) return `pulling ${p.image}: resolving`;
  return `pulling ${p.image}: ${mib(p.done)} of ${mib(p.total)} (${Math.floor((100 * p.done) / p.total)}%)`;
}

export function formatSize(bytes: number): string {
  return mib(bytes);
}
