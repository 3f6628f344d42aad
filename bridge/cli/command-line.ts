// What the sub-commands with options of their own share: strict flag parsing whose errors are one
// line, the flags of the commands run from a config file, and the aligned tables the listings print.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../../broker/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly against `options`; a bad flag is one line pointing at `command --help`. */
export function parseFlags<T extends Options>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]} (see tributary ${command} --help)`);
  }
}

/**
 * The flags of a command that runs from a config file (`tributary witness`, `cluster init`,
 * `witness init`): `--config FILE` (required) and `--data-dir DIR`. null when `--help` was asked
 * for (printed here); the caller exits 0.
 */
export function configFileFlags(command: string, argv: string[], help: string): { config: string; dataDir: string | undefined } | null {
  const values = parseFlags(command, argv, { config: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    return null;
  }
  if (values.config === undefined) throw new UsageError(`${command}: --config FILE is needed\n\n${help}`);
  return { config: values.config, dataDir: values['data-dir'] };
}

/** Rows of cells as left-aligned columns two spaces apart; the first row is the heading. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()}\n`);
}
