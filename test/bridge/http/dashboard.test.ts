// The dashboard in a real headless Chromium against a real node under real MQTT load: the page
// loads, its numbers move while publishers run, and a screenshot is saved for a person to look at
// (its path is printed; DASHBOARD_SCREENSHOT_DIR keeps it after the test).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchChromium, until } from '../../helpers/browser.js';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { tempDir } from '../../helpers/temp-dir.js';

const TOKEN = 'dashboard-test-token-0123456789';
const CLI = fileURLToPath(new URL('../../../bridge/cli.js', import.meta.url));

const number = async (page: Page, id: string): Promise<number> => Number((await page.textContent(`#${id}`))!.replace(/[^0-9.]/g, ''));

test('the dashboard shows live throughput, devices, partitions and errors while publishers run', async (t) => {
  const { node, url } = await startTestNode(t, { topics: [{ name: 'mqtt', partitions: 3 }], mqtt: { limits: { maxPayload: 1000 } } });
  const port = node.mqtt.ports.tcp;
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`http://127.0.0.1:${node.http.port}/`);
  assert.equal(await page.title(), 'Tributary');
  await until(page, 'ready state', async () => (await page.textContent('#state')) === 'ready');

  // The simulator (a real child process): 24 devices at 20 msg/s each for 10 s, with a fixed seed
  // so that their topics (the record keys) reach all three partitions; and one client that sends
  // an oversized publish.
  const sim = spawn(process.execPath, [CLI, 'sim', '--url', `mqtt://127.0.0.1:${port}`, '--devices', '24', '--rate', '20', '--duration', '10s', '--seed', 'dashboard', '--json', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let simOutput = '';
  sim.stdout.on('data', (chunk: Buffer) => (simOutput += chunk.toString()));
  const simExited = new Promise<number | null>((resolve) => sim.on('close', resolve));
  t.after(() => sim.kill('SIGKILL'));
  const noisy = await connect(t, url, { clientId: 'oversized-sender' });
  noisy.publish('plant/line-9/temp', Buffer.alloc(5000), { qos: 1 });

  await until(page, 'a publish rate', async () => (await number(page, 'rate-received')) > 0);
  await until(page, '24 connected devices', async () => (await number(page, 'connections')) === 24);
  const first = await number(page, 'total-received');
  await until(page, 'the total to grow', async () => (await number(page, 'total-received')) > first);
  await until(page, 'three partitions with records', async () => {
    const rows = await page.$$eval('#partitions tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    return rows.length === 3 && rows.every((r) => r[0] === 'mqtt' && Number(r[4]!.replace(/,/g, '')) > 0);
  });
  await until(page, 'the refusal among recent errors', async () => ((await page.textContent('#errors')) ?? '').includes('publish refused: payload too large'));
  assert.equal(await page.textContent('#upstream-lag'), 'off');
  await until(page, 'the refusal counted as a refused publish', async () => (await page.textContent('#refused')) === '1 refused publish · 0 refused connections');

  const dir = process.env.DASHBOARD_SCREENSHOT_DIR ?? tempDir(t);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'dashboard.png');
  await page.waitForTimeout(1500); // a few more points on the chart
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);

  assert.equal(await simExited, 0);
  const summary = JSON.parse(simOutput) as { acked: number };
  assert.ok(summary.acked > 0);
  assert.deepEqual(pageErrors, [], 'no script errors on the page');
});

test('with a token the page asks for it, then shows the data', async (t) => {
  const { node } = await startTestNode(t, { http: { host: '0.0.0.0', token: TOKEN } });
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${node.http.port}/`);
  await page.waitForSelector('#login.shown');
  assert.equal(await page.textContent('#state'), 'token needed');
  await page.fill('#token', TOKEN);
  await page.click('#login button');
  await until(page, 'ready state after the token', async () => (await page.textContent('#state')) === 'ready');
  assert.equal(await page.isVisible('#login'), false);
  assert.equal(await page.textContent('#connections'), '0');
});

test('a freshly opened page draws the last minutes of throughput at once, from the node', async (t) => {
  const { node, url } = await startTestNode(t);
  const overviewUrl = `http://127.0.0.1:${node.http.port}/api/overview`;
  const client = await connect(t, url, { clientId: 'before-the-page' });
  // Publish until the node holds five samples of which at least one saw publishes; no page is open.
  let throughput: Array<{ publishesPerSecond: number }> = [];
  for (let i = 0; throughput.length < 5 || !throughput.some((s) => s.publishesPerSecond > 0); i++) {
    await client.publishAsync(`plant/line-1/temp`, String(i), { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    throughput = ((await (await fetch(overviewUrl)).json()) as { throughput: typeof throughput }).throughput;
  }

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${node.http.port}/`);
  // The first render: the page itself has seen one snapshot, so any line is the node's history.
  await page.waitForSelector('#chart[data-points]');
  const points = Number(await page.getAttribute('#chart', 'data-points'));
  assert.ok(points >= 5, `the chart's first drawing has the node's samples (${points} points)`);
  const linePixels = await page.$eval('#chart', (canvas) => {
    type Canvas = { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
    const c = canvas as unknown as Canvas;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let blue = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 2]! > 200 && data[i]! < 100 && data[i + 3]! > 0) blue++;
    return blue;
  });
  assert.ok(linePixels > 50, `the line is drawn (${linePixels} pixels of its colour)`);
});
