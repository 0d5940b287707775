/**
 * The dashboard with an admin token set: reads work without it; the first change answered
 * with 401 asks for the token once (a wrong one is asked for again), keeps it in
 * sessionStorage, and later changes go through without asking.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startFixture, type Fixture } from '../admin/fixture.js';
import { chromiumMissing, ensureBuilt, launchChromium, repoRoot, watchErrors } from './support.js';

declare const document: any;
declare const sessionStorage: any;

const TOKEN = 'e2e-admin-token-42';
const skip = chromiumMissing();
let f: Fixture;
let browser: Browser;
let page: Page;
let errors: string[];

before(async () => {
  if (skip) return;
  ensureBuilt();
  f = await startFixture({ admin: { host: '127.0.0.1', port: 0, token: TOKEN } }, { dashboardDir: join(repoRoot(), 'dist/dashboard') });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // The 401s are the point of this test; Chrome logs each refused call.
  errors = watchErrors(page, [/status of 401/]);
  await page.goto(`${f.base}/`);
  await page.waitForSelector('#servers .server', { timeout: 10_000 });
});

after(async () => {
  await browser?.close();
  await f?.close();
});

test('the first refused change asks for the token; a wrong one is asked again', { skip }, async () => {
  const address = '127.0.0.1:8081';
  await page.locator(`.server[data-address="${address}"] button.toggle`).click();
  await page.waitForSelector('#token-dialog[open]', { timeout: 5000 });
  assert.match((await page.textContent('#token-hint'))!, /requires its admin token/);
  await page.fill('#token-input', 'not-the-token');
  await page.click('#token-ok');
  await page.waitForFunction(() => document.getElementById('token-hint')?.textContent?.includes('refused') && document.getElementById('token-dialog')?.open, null, { timeout: 5000 });
  await page.fill('#token-input', TOKEN);
  await page.press('#token-input', 'Enter');
  await page.waitForFunction((a) => document.querySelector(`.server[data-address="${a}"]`)?.classList.contains('state-disabled'), address, { timeout: 5000 });
  assert.equal(f.pool.backends[0]!.enabled, false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ballast.adminToken')), TOKEN);
});

test('later changes use the kept token without asking', { skip }, async () => {
  await page.selectOption('#strategy-select', 'least_connections');
  await page.click('#strategy-apply');
  await page.waitForFunction(() => document.getElementById('strategy-msg')?.textContent?.includes('to least_connections'), null, { timeout: 5000 });
  assert.equal(await page.locator('#token-dialog[open]').count(), 0);
  assert.equal(f.active.name, 'least_connections');
});

test('cancelling the dialog leaves things unchanged and says why', { skip }, async () => {
  await page.evaluate(() => sessionStorage.removeItem('ballast.adminToken'));
  await page.selectOption('#strategy-select', 'round_robin');
  await page.click('#strategy-apply');
  await page.waitForSelector('#token-dialog[open]', { timeout: 5000 });
  await page.click('#token-dialog button[value="cancel"]');
  await page.waitForFunction(() => document.getElementById('strategy-msg')?.textContent?.includes('token required'), null, { timeout: 5000 });
  assert.equal(f.active.name, 'least_connections');
  assert.deepEqual(errors, []);
});
