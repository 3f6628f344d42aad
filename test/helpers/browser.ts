// A real headless Chromium (Debian's `chromium` package) driven by playwright-core. A fresh
// profile directory per test; everything that could reach the network on its own is switched off.
import type { TestContext } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { onCleanup } from './cleanup.js';
import { tempDir } from './temp-dir.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(t: TestContext): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(tempDir(t, 'tributary-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  // Closed before its profile directory is removed (clean-ups run newest first).
  onCleanup(t, () => context.close());
  return context;
}

/** Polls the page until `condition` holds (the dashboard updates once a second); 30 s at most. */
export async function until(page: Page, what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`dashboard: ${what} not seen within 30 s; page text: ${await page.textContent('main')}`);
    await page.waitForTimeout(200);
  }
}
