// How a byte count reads on `converge pull`'s terminal.

export function formatSize(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
