// The bench's one error type: it fails on what does not work, never on a time, and the
// code says which (a wait that never ended, a state that should not be, a bad flag).

export type BenchErrorCode = 'BENCH_TIMEOUT' | 'BENCH_UNEXPECTED_STATE' | 'BENCH_USAGE';

export class BenchError extends Error {
  constructor(readonly code: BenchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchError';
  }
}
