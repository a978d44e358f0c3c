// The logger factory: JSON lines (pino) to stderr or a given stream. Built per process or
// per test, never a module-level singleton. Levels are written by name ("warn", not 40),
// and an `err` field goes through pino's error serializer: type, message, stack, the
// error's own fields (a code) and its cause chain, never just String(err).

import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { name: 'converge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
