// pino. Components take child loggers ({ component: 'log' }, ...); secrets are redacted wherever
// they appear in a logged object, before any formatting. Lines are JSON (one object a line, for
// journald, Docker and log shippers) unless a person reads them: on a terminal, or with
// logging.format: pretty, they go through pino-pretty (the pino team's printer), loaded only then
// so that a service under systemd or Docker never loads it.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** logging.format: auto is pretty when stdout is a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

const OPTIONS: pino.LoggerOptions = {
  base: { service: 'tributary' },
  redact: { paths: ['*.password', '*.*.password', '*.sasl.*', '*.token', 'password'], censor: '[redacted]' },
};

/** A JSON logger; tests and library callers pass their own destination. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ ...OPTIONS, level }, destination);
}

export interface ConsoleLoggerOptions {
  level: string;
  format: LogFormat;
  /** Where lines go; stdout by default. Its isTTY decides `auto`. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Whether lines to `stream` are printed for a person. */
export function prettyFor(format: LogFormat, stream: { isTTY?: boolean }): boolean {
  return format === 'pretty' || (format === 'auto' && stream.isTTY === true);
}

/** The logger of `tributary start`: JSON, or readable lines for a person (prettyFor). */
export async function createConsoleLogger(options: ConsoleLoggerOptions): Promise<Logger> {
  const stream = options.stream ?? process.stdout;
  if (!prettyFor(options.format, stream)) return createLogger(options.level, options.stream === undefined ? undefined : stream);
  const { default: pretty } = await import('pino-pretty');
  // In this thread (not a worker transport): a terminal's few lines a second need no thread of
  // their own. The service's constant fields are left out; the component stays, in the message.
  const printer = pretty({
    destination: stream,
    sync: true,
    colorize: stream.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
  });
  return pino({ ...OPTIONS, level: options.level }, printer);
}
