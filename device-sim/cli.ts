// `tributary sim`: bridge/cli.ts hands its arguments here. User errors become one line on stderr
// and a non-zero exit (2 for usage, 1 for a broker that cannot be reached or refuses us).
import { writeFileSync } from 'node:fs';
import { SimConnectError, SimUsageError } from './errors.js';
import { runFleet } from './fleet.js';
import { SIM_HELP, parseSimOptions, type SimOptions } from './options.js';
import { runRawMode } from './raw-mode.js';
import { formatSummary, type SimSummary } from './stats.js';

export async function simMain(argv: readonly string[]): Promise<number> {
  try {
    const options = parseSimOptions(argv);
    if (options === null) {
      process.stdout.write(`${SIM_HELP}\n`);
      return 0;
    }
    if (options.ackedOut !== undefined) checkWritable(options.ackedOut);
    const summary = options.raw === null ? await runMqttJs(options) : await runRawMode(options);
    if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stderr.write(`${formatSummary(summary)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof SimUsageError || err instanceof SimConnectError) {
      process.stderr.write(`tributary sim: ${err.message}\n`);
      return err instanceof SimUsageError ? 2 : 1;
    }
    throw err;
  }
}

async function runMqttJs(options: SimOptions): Promise<SimSummary> {
  const live = options.live ? (line: string) => process.stderr.write(`\r\x1b[K${line}`) : undefined;
  const run = runFleet(options, live);
  // Ctrl-C ends the run with a summary; a second one exits at once.
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    run.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (live !== undefined) process.stderr.write('\r\x1b[K');
  }
}

function checkWritable(file: string): void {
  try {
    writeFileSync(file, '');
  } catch (err) {
    throw new SimUsageError(`--acked-out: cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
