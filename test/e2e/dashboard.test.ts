/**
 * The dashboard in a real browser (Debian's chromium via playwright-core) against a running
 * `ballast demo`: it shows the three backends, switches strategy through the UI (and
 * /api/status follows), disables a backend and marks it, runs a small load test and shows
 * the result, with no console errors. Screenshots go to test-output/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { backgroundTraffic, chromiumMissing, ensureBuilt, httpJson, launchChromium, outputDir, startDemo, watchErrors, type Demo } from './support.js';

// Functions passed to waitForFunction run in the page, where `document` exists.
declare const document: any;
declare const window: any;

const skip = chromiumMissing();
let demo: Demo;
let browser: Browser;
let page: Page;
let errors: string[];
let traffic: { stop(): void };

before(async () => {
  if (skip) return;
  ensureBuilt();
  demo = await startDemo();
  traffic = backgroundTraffic(demo.proxyUrl, 20, 60_000);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  errors = watchErrors(page);
});

after(async () => {
  traffic?.stop();
  await browser?.close();
  await demo?.stop();
});

test('sees the three demo backends and live figures', { skip }, async () => {
  await page.goto(`${demo.adminUrl}/`);
  await page.waitForSelector('#servers .server', { timeout: 10_000 });
  const cards = page.locator('#servers .server');
  assert.equal(await cards.count(), 3);
  const addresses = await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-address')));
  assert.deepEqual(addresses, demo.backendPorts.map((p) => `127.0.0.1:${p}`));
  await page.waitForFunction(() => document.getElementById('live')?.textContent === 'live', null, { timeout: 5000 });
  await page.waitForFunction(() => document.getElementById('st-healthy')?.textContent === '3/3', null, { timeout: 10_000 });
  assert.equal(await page.textContent('#run-state'), 'running');
  // Traffic flows: the total climbs and the chart canvases exist.
  await page.waitForFunction(() => Number((document.getElementById('pf-total')?.textContent ?? '0').replace(/,/g, '')) > 5, null, { timeout: 10_000 });
  assert.equal(await page.locator('#chart-rps canvas').count() >= 1, true);
  assert.equal(await page.locator('#chart-lat canvas').count() >= 1, true);
});

test('switches strategy through the UI and /api/status follows', { skip }, async () => {
  const before = (await httpJson(`${demo.adminUrl}/api/status`)).json.strategy;
  const target = before === 'least_connections' ? 'round_robin' : 'least_connections';
  await page.selectOption('#strategy-select', target);
  await page.click('#strategy-apply');
  await page.waitForFunction((t) => document.getElementById('strategy-msg')?.textContent?.includes(`to ${t}`), target, { timeout: 5000 });
  assert.equal((await httpJson(`${demo.adminUrl}/api/status`)).json.strategy, target);
  await page.waitForFunction((t) => document.getElementById('st-strategy')?.textContent === t, target, { timeout: 5000 });
  await page.waitForFunction((t) => document.querySelector('#strategy-panel h3')?.textContent?.startsWith(t), target, { timeout: 5000 });
});

test('disables a backend and sees it marked', { skip }, async () => {
  const address = `127.0.0.1:${demo.backendPorts[1]}`;
  const card = page.locator(`.server[data-address="${address}"]`);
  await card.locator('button.toggle').click();
  await page.waitForFunction((a) => document.querySelector(`.server[data-address="${a}"]`)?.classList.contains('state-disabled'), address, { timeout: 5000 });
  assert.equal(await card.locator('.badge').textContent(), 'disabled');
  assert.equal(await card.locator('button.toggle').textContent(), 'Enable');
  const servers = (await httpJson(`${demo.adminUrl}/api/servers`)).json.servers;
  const s = servers.find((x: { port: number }) => x.port === demo.backendPorts[1]);
  assert.equal(s.manually_disabled, true);
  // The next event keeps it marked (not just the optimistic update), and the header counts 2/3.
  await page.waitForFunction(() => document.getElementById('st-healthy')?.textContent === '2/3', null, { timeout: 5000 });
  assert.equal(await card.getAttribute('class'), 'server state-disabled');
});

test('runs a small load test and sees the result with a latency histogram', { skip }, async () => {
  await page.fill('#lt-requests', '200');
  await page.fill('#lt-concurrent', '8');
  await page.click('#lt-run');
  await page.waitForSelector('#lt-result:not([hidden])', { timeout: 30_000 });
  const total = await page.textContent('#lt-summary [data-field="total_requests"]');
  assert.equal(total, '200');
  assert.equal(await page.textContent('#lt-summary [data-field="test_type"]'), 'load_test');
  assert.ok((await page.locator('#lt-hist .hist-col').count()) >= 1, 'histogram bars');
  assert.equal(await page.isHidden('#lt-error'), true);
  assert.equal(await page.textContent('#lt-run'), 'Run');
});

test('screenshots on a laptop and a phone, and no console errors', { skip }, async () => {
  const dir = outputDir();
  // Let a few more seconds of traffic reach the charts.
  await page.waitForTimeout(1500);
  // From the top, so the sticky header sits where it belongs in a full-page shot.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(dir, 'dashboard-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(600);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(dir, 'dashboard-phone.png'), fullPage: true });
  // Nothing may stick out sideways on a phone.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than a phone screen`);
  await page.setViewportSize({ width: 1440, height: 900 });
  // Re-enable the backend so the demo ends as it started.
  const address = `127.0.0.1:${demo.backendPorts[1]}`;
  await page.locator(`.server[data-address="${address}"] button.toggle`).click();
  await page.waitForFunction((a) => document.querySelector(`.server[data-address="${a}"]`)?.classList.contains('state-up'), address, { timeout: 5000 });
  assert.deepEqual(errors, []);
});
