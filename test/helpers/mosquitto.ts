// Debian's mosquitto on a free port, and an independent subscriber (mosquitto_sub) that prints each
// message's topic and payload bytes in hex: a real broker for the replay-into-MQTT tests.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import { freePort } from './cli.js';
import { PATIENCE_MS, pollUntil } from './wait-for.js';

export async function startMosquitto(t: TestContext): Promise<{ port: number; broker: ChildProcess }> {
  const port = await freePort();
  const broker = spawn('mosquitto', ['-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  broker.on('error', (err) => assert.fail(`mosquitto could not run (install the Debian package mosquitto): ${err.message}`));
  t.after(() => broker.kill('SIGKILL'));
  await listening(port);
  assert.equal(broker.exitCode, null, 'mosquitto is running');
  return { port, broker };
}

/** Polls a TCP port until it accepts connections. */
async function listening(port: number): Promise<void> {
  const accepts = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  if (await pollUntil(accepts, PATIENCE_MS, 50)) return;
  throw new Error(`nothing listens on ${port}`);
}

export interface Subscriber {
  child: ChildProcess;
  /** What arrived, probes left out. */
  messages: Array<{ topic: string; hex: string }>;
}

/**
 * mosquitto_sub on `filter` plus a probe topic; resolves once a probe published with mosquitto_pub
 * came through, i.e. once the subscription is in place.
 */
export async function subscribe(t: TestContext, port: number, filter: string): Promise<Subscriber> {
  const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', filter, '-t', 'probe', '-F', '%t %x', '-i', `sub-${filter.replace(/\W/g, '')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const messages: Subscriber['messages'] = [];
  let probed = false;
  let rest = '';
  child.stdout!.on('data', (c: Buffer) => {
    const lines = (rest + c.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const space = line.indexOf(' ');
      if (line.startsWith('probe ')) probed = true;
      else messages.push({ topic: line.slice(0, space), hex: line.slice(space + 1) });
    }
  });
  // A probe published until one comes back: then the subscription is in place (bounded, generously).
  for (const deadline = Date.now() + PATIENCE_MS; !probed && Date.now() < deadline; ) {
    spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'probe', '-m', 'p'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(probed, 'mosquitto_sub subscribed');
  return { child, messages };
}
