// What the sub-commands with options of their own (replay, readers) share: strict flag parsing
// whose errors are one line, and the aligned plain-text tables the listing commands print.
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

/** Rows of cells as left-aligned columns two spaces apart; the first row is the heading. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()}\n`);
}
