// The dashboard against a real Kafka: the upstream table shows every partition forwarded, with its
// offsets and lag, as the forwarder reports them (its own file: starting Kafka takes a while).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium, until } from '../helpers/browser.js';
import { startKafka } from '../helpers/kafka.js';
import { startTestNode } from '../helpers/mqtt-node.js';
import { tempDir } from '../helpers/temp-dir.js';

const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));

test('the dashboard shows each partition forwarded to a real Kafka, lag and offsets', async (t) => {
  const kafka = await startKafka(t);
  const { node } = await startTestNode(t, { topics: [{ name: 'mqtt', partitions: 2 }], upstream: { enabled: true, brokers: [kafka.bootstrap] } });
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${node.http.port}/`);
  const sim = spawn(process.execPath, [CLI, 'sim', '--url', `mqtt://127.0.0.1:${node.mqtt.ports.tcp}`, '--devices', '24', '--rate', '20', '--duration', '5s', '--seed', 'dashboard-upstream', '--quiet'], { stdio: 'ignore' });
  t.after(() => sim.kill('SIGKILL'));
  const simExited = new Promise<number | null>((resolve) => sim.on('close', resolve));
  const rows = (): Promise<string[][]> => page.$$eval('#upstream tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
  await until(page, 'both partitions in the upstream table', async () => (await rows()).filter((r) => r[0] === 'mqtt').length === 2);
  assert.equal(await simExited, 0);
  const stored = node.log.topics()[0]!.partitions.map((p) => p.logEndOffset);
  assert.ok(stored.every((end) => end > 0), 'the simulator reached both partitions');
  await until(page, 'everything forwarded: lag 0, forwarded = end offset', async () => {
    const r = await rows();
    const num = (s: string): number => Number(s.replace(/,/g, ''));
    return (await page.textContent('#upstream-lag')) === '0' && r.length === 2 && r.every((row) => num(row[2]!) === stored[num(row[1]!)] && num(row[3]!) === num(row[2]!) && row[4] === '0');
  });
  assert.match((await page.textContent('#upstream-rate')) ?? '', /^connected/);
  assert.equal(await page.textContent('#errors'), 'none', 'devices that leave are not errors');
  const dir = process.env.DASHBOARD_SCREENSHOT_DIR ?? tempDir(t);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'dashboard-upstream.png'), fullPage: true });
  t.diagnostic(`screenshot: ${join(dir, 'dashboard-upstream.png')}`);
});
