// The dashboard in headless Chromium against a real `liucun serve` (started by run.sh over the demo data).
//
// Environment: LIUCUN_URL (the server), LIUCUN_KEYS (read keys, comma separated), LIUCUN_EMPTY_KEY (a read key of a
// project without events), LIUCUN_WRITE_TOKEN (a write token of lanting), LIUCUN_BIN and LIUCUN_TEST_DATA
// (for `liucun verify`), CHROMIUM (default /usr/bin/chromium). The numbers the page shows are checked against the
// report API called from here with the same parameters, and every page is saved to screenshots/<page>.png.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const BASE = process.env.LIUCUN_URL;
const KEYS = (process.env.LIUCUN_KEYS ?? '').split(',').filter(Boolean);
const BIN = process.env.LIUCUN_BIN;
const DATA = process.env.LIUCUN_TEST_DATA;
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const VIEWS = ['overview', 'retention', 'trends', 'stickiness', 'lifecycle', 'growth', 'funnels', 'economics', 'quarantine'];
const PROJECTS = ['lanting', 'qiuyue', 'moxi', 'tingfeng', 'baicao'];

assert.ok(BASE, 'LIUCUN_URL is not set: run tests/browser/run.sh');
assert.equal(KEYS.length, PROJECTS.length, 'LIUCUN_KEYS should hold one read key per demo project');

let browser;
let context;
let page;
const problems = [];
const projectKey = new Map();
const scratch = fs.mkdtempSync(path.join(process.env.LIUCUN_TEST_TMP ?? os.tmpdir(), 'downloads-'));

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const key of KEYS) {
    const response = await fetch(`${BASE}/api/v1/whoami`, { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(response.status, 200, 'whoami answers a read key');
    for (const project of (await response.json()).projects) projectKey.set(project, key);
  }
  // Four items capture refuses, so the quarantine page has entries of four reasons to show.
  const capture = await fetch(`${BASE}/batch`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      api_key: process.env.LIUCUN_WRITE_TOKEN,
      batch: [{ event: 'signup', distinct_id: 'u1', timestamp: 'not a time' }, { event: '', distinct_id: 'u2' }, { distinct_id: 'u3' }, 7],
    }),
  });
  assert.equal((await capture.json()).quarantined, 4);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  context = await newContext();
  page = await context.newPage();
  watch(page, problems);
});

after(async () => {
  await browser?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function newContext() {
  return browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', acceptDownloads: true });
}

/// Console errors and uncaught exceptions of `p` go to `sink`.
function watch(p, sink) {
  p.on('console', (message) => {
    if (message.type() === 'error') sink.push(`console: ${message.text()} (${message.location().url})`);
  });
  p.on('pageerror', (error) => sink.push(`page error: ${error.message}`));
}

function assertNoProblems(where) {
  assert.deepEqual(problems.splice(0), [], `console errors on ${where}`);
}

/// Waits until the page has settled and answers its state: ready, no-key, bad-key, refused, unreachable, …
async function settled(p = page) {
  await p.waitForFunction(() => document.body.dataset.state && document.body.dataset.state !== 'loading', null, { timeout: 30_000 });
  return p.evaluate(() => document.body.dataset.state);
}

async function shot(name, p = page) {
  await p.waitForTimeout(350); // chart animations
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function query(p = page) {
  return Object.fromEntries(new URL(p.url()).searchParams);
}

async function report(project, kind, params) {
  const response = await fetch(`${BASE}/api/v1/projects/${project}/reports/${kind}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${projectKey.get(project)}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text);
}

const pct = (ratio) => new Intl.NumberFormat('en-US', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(ratio);

async function text(selector, p = page) {
  return (await p.locator(selector).first().textContent()).trim();
}

test('the overview opens with keys from the fragment, stores them and strips them from the address', async () => {
  await page.goto(`${BASE}/#keys=${KEYS.join(',')}`);
  assert.equal(await settled(), 'ready');
  assert.ok(!page.url().includes('keys='), `keys left in the address: ${page.url()}`);
  assert.ok(!page.url().includes('lcr_'), 'no key in the address');
  const stored = JSON.parse(await page.evaluate(() => localStorage.getItem('liucun.keys')));
  assert.deepEqual([...stored].sort(), [...KEYS].sort());
  const q = query();
  assert.equal(q.view, 'overview');
  assert.deepEqual(q.projects.split(',').sort(), [...PROJECTS].sort());

  // Day-1, 7 and 30 first-time retention per project, as the API computes them for the window shown.
  for (const project of PROJECTS) {
    const json = await report(project, 'retention', {
      retention_type: 'first_time',
      period: 'day',
      total_intervals: 31,
      date_from: q.from,
      date_to: q.to,
    });
    for (const n of [1, 7, 30]) {
      assert.equal(await text(`[data-testid="kpi-${project}-day${n}"]`), pct(json.mean[0].rates[n]), `${project} day ${n}`);
    }
  }
  await shot('overview');
  assertNoProblems('overview');
});

test('every page loads without console errors and shows its evidence', async () => {
  for (const view of VIEWS) {
    await page.click(`#tabs a[data-view="${view}"]`);
    await page.waitForURL((url) => url.searchParams.get('view') === view);
    assert.equal(await settled(), 'ready', view);
    if (view === 'quarantine') {
      const listing = await fetch(`${BASE}/api/v1/projects/lanting/quarantine`, { headers: { Authorization: `Bearer ${projectKey.get('lanting')}` } });
      const total = Object.values((await listing.json()).by_reason).reduce((a, b) => a + b, 0);
      assert.equal(await text('[data-testid="quarantine-lanting"]'), String(total));
      assert.match(await text('#content table'), /invalid_timestamp/);
    } else {
      const definition = await text('[data-testid="definition"]');
      assert.ok(definition.length > 20, `${view} shows its definition`);
      assert.match(await text('[data-testid="evidence"]'), /lc1:sha256:/, `${view} shows the data fingerprint`);
    }
    assert.ok((await page.locator('#content canvas').count()) > 0, `${view} draws a chart`);
    await shot(view);
    assertNoProblems(view);
  }
});

test('retention: a changed period shows the numbers the API computes for the same parameters', async () => {
  await page.goto(`${BASE}/?view=retention&projects=lanting,qiuyue&period=day&intervals=31&from=2025-01-01&to=2025-02-28&type=first_time`);
  assert.equal(await settled(), 'ready');
  await page.selectOption('select[name="period"]', 'week');
  await page.waitForURL((url) => url.searchParams.get('period') === 'week');
  assert.equal(await settled(), 'ready');
  const q = query();
  assert.equal(q.type, 'first_time');
  for (const project of ['lanting', 'qiuyue']) {
    const json = await report(project, 'retention', {
      period: q.period,
      total_intervals: Number(q.intervals),
      retention_type: q.type,
      date_from: q.from,
      date_to: q.to,
    });
    assert.equal(json.parameters.period, 'week');
    assert.equal(await text(`[data-testid="mean-${project}-1"]`), pct(json.mean[0].rates[1]), `${project} week 1`);
  }
  await shot('retention-week');
  assertNoProblems('retention (week)');
});

test('reloading the address shows the same view with its controls restored', async () => {
  const before = { url: page.url(), week1: await text('[data-testid="mean-lanting-1"]') };
  await page.reload();
  assert.equal(await settled(), 'ready');
  assert.equal(page.url(), before.url);
  assert.equal(await page.inputValue('select[name="period"]'), 'week');
  assert.equal(await page.inputValue('input[name="from"]'), '2025-01-01');
  assert.equal(await page.inputValue('input[name="to"]'), '2025-02-28');
  assert.equal(await page.inputValue('select[name="type"]'), 'first_time');
  assert.equal(await text('[data-testid="mean-lanting-1"]'), before.week1);
  assert.deepEqual(
    await page.$$eval('[data-testid="projects"] input:checked', (inputs) => inputs.map((i) => i.value)),
    ['lanting', 'qiuyue'],
  );
  assertNoProblems('reload');
});

async function downloadFrom(selector) {
  await page.click('[data-testid="download"] summary');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const file = path.join(scratch, download.suggestedFilename());
  await download.saveAs(file);
  return file;
}

test('the report JSON download is the API report, and liucun verify accepts it', async () => {
  const file = await downloadFrom('[data-download="json:lanting:retention"]');
  const downloaded = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(downloaded.kind, 'retention');
  // The same parameters (as_of included) give the same report, byte for byte in content.
  const fromApi = await report('lanting', 'retention', downloaded.parameters);
  assert.deepEqual(downloaded, fromApi);
  const verify = spawnSync(BIN, ['--data', DATA, 'verify', file], { encoding: 'utf8' });
  assert.equal(verify.status, 0, `liucun verify: ${verify.stdout}${verify.stderr}`);

  const csv = fs.readFileSync(await downloadFrom('[data-download="csv"]'), 'utf8');
  assert.match(csv.split('\r\n')[0], /^project,breakdown_value,is_other,cohort_start,cohort_size,period,count,rate/);
  assert.ok(csv.split('\r\n').length > 10);
  const svg = fs.readFileSync(await downloadFrom('[data-download^="svg:"]'), 'utf8');
  assert.match(svg, /<svg[\s>]/);
  const png = fs.readFileSync(await downloadFrom('[data-download^="png:"]'));
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assertNoProblems('downloads');
});

test('the language switches to Simplified Chinese and stays after a reload', async () => {
  await page.selectOption('#lang', 'zh-CN');
  assert.equal(await settled(), 'ready');
  assert.equal(await text('#tabs a[data-view="retention"]'), '留存');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  await page.reload();
  assert.equal(await settled(), 'ready');
  assert.equal(await text('#tabs a[data-view="retention"]'), '留存');
  assert.equal(await text('#tabs a[data-view="overview"]'), '概览');
  assert.match(await text('.view-head h1'), /留存/);
  await shot('retention-zh');
  await page.click('#tabs a[data-view="overview"]');
  assert.equal(await settled(), 'ready');
  await shot('overview-zh');
  await page.selectOption('#lang', 'en');
  assert.equal(await settled(), 'ready');
  assert.equal(await text('#tabs a[data-view="retention"]'), 'Retention');
  assertNoProblems('language');
});

test('a window without events says where the data is instead of drawing an empty chart', async () => {
  await page.goto(`${BASE}/?view=retention&projects=lanting&from=2020-01-01&to=2020-02-01&period=day&intervals=8&type=first_time`);
  assert.equal(await settled(), 'ready');
  const note = await text('[data-testid="note"][data-code="empty_window"]');
  assert.match(note, /holds no events/);
  assert.match(note, /2025-01-01/);
  assert.equal(await page.locator('#content canvas').count(), 0, 'no empty chart');
  await shot('empty-window');
  await page.click('[data-testid="show-data"]');
  await page.waitForURL((url) => url.searchParams.get('from') === '2025-01-01');
  assert.equal(await settled(), 'ready');
  assert.ok((await page.locator('#content canvas').count()) > 0);
  assertNoProblems('empty window');
});

test('retention: a property filter shows the numbers the API computes with it, survives a reload, and a bad one is refused', async () => {
  await page.goto(`${BASE}/?view=retention&projects=lanting&period=day&intervals=31&from=2025-01-01&to=2025-02-28&type=first_time`);
  assert.equal(await settled(), 'ready');
  // The key inputs offer the property keys of the sampled events, and the keys their `$set` gives persons.
  await page.waitForFunction(() => [...document.querySelectorAll('#dl-properties option')].some((o) => o.value === '$os'));
  await page.waitForFunction(() => document.querySelectorAll('#dl-person-properties option').length > 0);
  assert.ok(await page.$$eval('#dl-breakdown option', (options) => options.some((o) => o.value === '$os')), 'the breakdown offers the keys too');

  // A row applies once it says enough: the key alone changes nothing.
  await page.click('[data-testid="add-where"]');
  await page.selectOption('select[name="where-type"]', 'event');
  await page.fill('input[name="where-key"]', '$os');
  await page.press('input[name="where-key"]', 'Tab');
  assert.equal(query().where, undefined);
  await page.selectOption('select[name="where-op"]', 'eq');
  await page.fill('input[name="where-value"]', 'iOS');
  await page.press('input[name="where-value"]', 'Tab');
  await page.waitForURL((url) => url.searchParams.get('where') === '$os eq iOS');
  assert.equal(await settled(), 'ready');
  assert.match(page.url(), /[?&]where=\$os\+eq\+iOS(&|$)/, 'the filter reads plainly in the address');

  const q = query();
  const os = { type: 'event', key: '$os', operator: 'eq', value: 'iOS' };
  const params = { period: q.period, total_intervals: Number(q.intervals), retention_type: q.type, date_from: q.from, date_to: q.to };
  const filtered = await report('lanting', 'retention', { ...params, properties: [os] });
  const unfiltered = await report('lanting', 'retention', params);
  const persons = (json) => json.rows.reduce((n, row) => n + row.size, 0);
  assert.ok(persons(filtered) > 0 && persons(filtered) < persons(unfiltered), `the filter narrows the cohorts: ${persons(filtered)} of ${persons(unfiltered)}`);
  assert.deepEqual(filtered.parameters.properties, [os]);
  assert.equal(await text('[data-testid="mean-lanting-1"]'), pct(filtered.mean[0].rates[1]), 'day 1 with the filter');
  await shot('retention-filtered');

  // A reload restores the row and the numbers.
  const before = { url: page.url(), day1: await text('[data-testid="mean-lanting-1"]') };
  await page.reload();
  assert.equal(await settled(), 'ready');
  assert.equal(page.url(), before.url);
  assert.equal(await page.inputValue('select[name="where-type"]'), 'event');
  assert.equal(await page.inputValue('input[name="where-key"]'), '$os');
  assert.equal(await page.inputValue('select[name="where-op"]'), 'eq');
  assert.equal(await page.inputValue('input[name="where-value"]'), 'iOS');
  assert.equal(await text('[data-testid="mean-lanting-1"]'), before.day1);

  // A start-event filter on a person property, from the address: target.properties.
  await page.goto(`${before.url}&target_where=person.plan+is_set`);
  assert.equal(await settled(), 'ready');
  assert.equal(await page.inputValue('select[name="target_where-type"]'), 'person');
  assert.equal(await page.inputValue('input[name="target_where-key"]'), 'plan');
  assert.equal(await page.inputValue('select[name="target_where-op"]'), 'is_set');
  const started = await report('lanting', 'retention', {
    ...params,
    properties: [os],
    target: { event: null, properties: [{ type: 'person', key: 'plan', operator: 'is_set' }] },
  });
  assert.ok(persons(started) < persons(filtered), 'the start filter narrows the cohorts further');
  assert.equal(await text('[data-testid="mean-lanting-1"]'), pct(started.mean[0].rates[1]), 'day 1 with the start filter');

  // An invalid regex: the API refuses it, naming the parameter, and the controls stay to correct it.
  await page.selectOption('select[name="where-op"]', 'regex');
  await page.waitForURL((url) => url.searchParams.get('where') === '$os regex iOS');
  assert.equal(await settled(), 'ready');
  await page.fill('input[name="where-value"]', '(');
  await page.press('input[name="where-value"]', 'Tab');
  await page.waitForURL((url) => url.searchParams.get('where') === '$os regex (');
  assert.equal(await settled(), 'refused');
  const message = await text('[data-testid="error-message"]');
  assert.match(message, /`properties`/);
  assert.match(message, /regex/);
  assert.equal(await page.inputValue('input[name="where-value"]'), '(');
  await shot('retention-filter-refused');
  problems.splice(0); // the 400 itself is logged by the browser
  await page.click('[data-testid="filter-where"] button.remove');
  await page.waitForURL((url) => !url.searchParams.has('where'));
  assert.equal(await settled(), 'ready');
  assertNoProblems('filters');
});

test('a refused report shows the API message, which names the field', async () => {
  await page.goto(`${BASE}/?view=retention&projects=lanting&from=2025-01-01&to=2025-02-28&tz=Mars/Base`);
  assert.equal(await settled(), 'refused');
  assert.match(await text('[data-testid="error-message"]'), /timezone/);
  await shot('refused');
  problems.splice(0); // the 400 itself is logged by the browser
});

test('no key, a bad key and an unreachable server each show their state', async () => {
  const fresh = await newContext();
  const p = await fresh.newPage();
  await p.goto(`${BASE}/`);
  assert.equal(await settled(p), 'no-key');
  assert.match(await text('[data-testid="state-no-key"]', p), /liucun keys create --project P --kind read/);
  await shot('no-key', p);

  await p.goto(`${BASE}/#keys=lcr_this_is_not_a_key`);
  assert.equal(await settled(p), 'bad-key');
  assert.match(await text('[data-testid="error-message"]', p), /401/);
  await shot('bad-key', p);

  await p.evaluate(() => localStorage.setItem('liucun.keys', '[]'));
  await p.route('**/api/v1/whoami', (route) => route.abort('connectionrefused'));
  await p.goto(`${BASE}/#keys=${KEYS[0]}`);
  assert.equal(await settled(p), 'unreachable');
  await shot('unreachable', p);
  await p.unroute('**/api/v1/whoami');

  await p.evaluate(() => localStorage.setItem('liucun.keys', '[]'));
  await p.goto(`${BASE}/#keys=${process.env.LIUCUN_EMPTY_KEY}`);
  assert.equal(await settled(p), 'no-data');
  const help = await text('[data-testid="state-no-data"]', p);
  assert.match(help, /kongbai/);
  assert.ok(help.includes(`api_host: '${BASE}'`), help);
  await shot('no-data', p);
  await fresh.close();
});
