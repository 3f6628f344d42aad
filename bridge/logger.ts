// pino, JSON to stdout. Components take child loggers ({ component: 'log' }, ...); secrets are
// redacted wherever they appear in a logged object.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tributary' },
      redact: { paths: ['*.password', '*.*.password', '*.sasl.*', '*.token', 'password'], censor: '[redacted]' },
    },
    destination,
  );
}
