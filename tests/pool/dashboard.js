// The scheduler's dashboard in a real browser (Debian's chromium, headless,
// driven by puppeteer-core) against a live pool that ran a completed task
// and a failed one whose reason carries markup: the page asks for the admin
// token and shows nothing without it, says so when the scheduler refuses a
// token, then shows the known worker (address, SIMULATED, TCB status,
// MRTD), both tasks with their statuses and timelines, the failure's reason
// as literal text (no element made from it, no script run), charts with
// points, refreshes by itself (a task started after the page loaded shows
// up and completes), keeps the token across a reload and forgets it on
// request; no console error, no CSP violation once the token is in; the
// owner's and the worker's earnings equal what the chain says (escrow.js,
// ethers) before the live task and again after it.  Saves a screenshot.
// Usage: node dashboard.js CONFIG_JSON
//   CONFIG_JSON: {url, token, worker, owner, mrtd, okTask, badTask, reason,
//                 screenshot, ready (a file to create when the page is up),
//                 chromium, chainFile}
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const puppeteer = require('puppeteer-core');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let pass = 0, fail = 0;
function check(what, got, want) {
  if (got === want) pass++;
  else { fail++; console.error(`FAIL: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
}
function truthy(what, v) { check(what, !!v, true); }

// everything the page says or does that a test must see
let phase = 'load';
const errors = [], bad = [], dialogs = [], asked = [];

(async () => {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium || '/usr/bin/chromium',
    headless: true,
    // as root chromium needs --no-sandbox; the page is our own, on loopback
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--no-default-browser-check', '--disable-extensions'],
  });
  try {
    await run(browser);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  fail++;
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
}).finally(() => {
  console.log(`dashboard.js: ${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
});

const text = (page, sel) => page.$eval(sel, (n) => n.textContent);

// The chain's figures (escrow.js) and the page's, for the owner and the worker.
const FIELDS = ['rewards', 'seized', 'stake', 'locked'];
function chainSays() {
  const o = JSON.parse(execFileSync('node', [path.join(__dirname, 'escrow.js'), cfg.chainFile, '-',
    cfg.owner, cfg.worker], { encoding: 'utf8' }));
  return JSON.stringify([cfg.owner, cfg.worker].map((a) => FIELDS.map((k) => o.accounts[a][k])));
}
const pageSays = (page) => page.evaluate((who, fields) => JSON.stringify(who.map((a) => {
  const r = document.querySelector(`#earnings tr[data-address="${a}"]`);
  return fields.map((k) => (r ? r.querySelector('.' + k).textContent : null));
})), [cfg.owner, cfg.worker], FIELDS);
// the page shows the chain's figures within 20 s (the scheduler reads them
// once per block, the page every 2 s): a stale or wrong figure fails
async function earningsMatch(page, what) {
  const want = chainSays();
  let got = null;
  for (let i = 0; i < 40 && got !== want; i++) {
    got = await pageSays(page);
    if (got !== want) await new Promise((r) => setTimeout(r, 500));
  }
  check(what + ' [[owner], [worker]] x [' + FIELDS.join(', ') + ']', got, want);
  return JSON.parse(want);
}
const hidden = (page, sel) => page.$eval(sel, (n) => n.hidden || getComputedStyle(n).display === 'none');

async function run(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 900 });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn' || m.type() === 'warning') errors.push({ phase, text: m.text() });
  });
  page.on('pageerror', (e) => errors.push({ phase, text: 'page error: ' + e.message }));
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('request', (r) => asked.push({ phase, path: new URL(r.url()).pathname }));
  page.on('response', (r) => { if (r.status() >= 400) bad.push({ phase, url: r.url(), status: r.status() }); });
  // (injected by the browser's debugger, so the page's policy does not apply)
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
  });

  // 1. No token: the page asks for one and calls nothing; the API refuses
  //    a call without it.
  phase = 'no-token';
  const resp = await page.goto(cfg.url + '/', { waitUntil: 'networkidle0' });
  check('GET / status', resp.status(), 200);
  const h = resp.headers();
  truthy('CSP on the page: ' + h['content-security-policy'],
    /default-src 'self'/.test(h['content-security-policy'] || '') &&
    !/unsafe-inline|unsafe-eval/.test(h['content-security-policy'] || ''));
  check('X-Frame-Options', h['x-frame-options'], 'DENY');
  check('X-Content-Type-Options', h['x-content-type-options'], 'nosniff');
  check('login shown', await hidden(page, '#login'), false);
  check('dashboard hidden without a token', await hidden(page, '#dash'), true);
  truthy('the page asks for the admin token', /admin token/i.test(await text(page, '#login')));
  check('no worker drawn without a token', await page.$$eval('#workers tbody tr', (r) => r.length), 0);
  check('no API call without a token', JSON.stringify(asked.filter((a) => a.phase === 'no-token' &&
    !/^\/(ui\/.*)?$/.test(a.path))), '[]');
  for (const p of ['workers', 'stats', 'tasks?status=FAILED']) {
    check(`GET /${p} from the page without the token`,
      await page.evaluate((u) => fetch(u).then((r) => r.status), p), 401);
  }

  // 2. A malformed token is caught by the page; a wrong one by the
  //    scheduler, and the page says so and asks again.
  phase = 'wrong-token';
  await page.type('#token', 'not-a-token');
  await page.click('#login-form button');
  truthy('malformed token', /64 hex digits/.test(await text(page, '#login-error')));
  await page.$eval('#token', (n) => { n.value = ''; });
  await page.type('#token', '0'.repeat(64));
  await page.click('#login-form button');
  await page.waitForFunction(() => /refused/.test(document.getElementById('login-error').textContent),
    { timeout: 10000 });
  truthy('the page says the scheduler refused the token: ' + await text(page, '#login-error'),
    /refused the token: wrong admin token/.test(await text(page, '#login-error')));
  check('dashboard still hidden', await hidden(page, '#dash'), true);
  check('a refused token is not kept', await page.evaluate(() => sessionStorage.length), 0);
  truthy('the wrong token got 401s', bad.some((b) => b.phase === 'wrong-token' && b.status === 401));

  // 3. The right token: the pool as the scheduler sees it.
  phase = 'token';
  await page.type('#token', cfg.token);
  await page.click('#login-form button');
  const row = `#workers tr[data-worker="${cfg.worker}"]`;
  await page.waitForSelector(row, { timeout: 10000 });
  check('login hidden', await hidden(page, '#login'), true);
  check('worker address', await text(page, row + ' .address'), cfg.worker);
  check('SIMULATED badge', await text(page, row + ' .badge.sim'), 'SIMULATED');
  truthy('TCB status', /UpToDate/.test(await text(page, row + ' .attestation')));
  check('MRTD (whole in its title)', await page.$eval(row + ' .mrtd', (n) => n.title), cfg.mrtd);
  check('worker completed', await text(page, row + ' .completed'), '1');
  check('worker failed', await text(page, row + ' .failed'), '1');

  const task = (id) => `#tasks tr[data-task="${id}"]`;
  check('completed task status', await text(page, task(cfg.okTask) + ' .status .badge'), 'COMPLETED');
  check('failed task status', await text(page, task(cfg.badTask) + ' .status .badge'), 'FAILED');
  check('failed task reason, as text', await text(page, task(cfg.badTask) + ' .reason'), cfg.reason);
  check('failed task timeline',
    await page.$$eval(task(cfg.badTask) + ' ol.timeline .badge', (b) => b.map((x) => x.textContent).join(',')),
    'RECEIVED,INITIALIZED,RUNNING,FAILED');
  truthy('completed task timeline ends COMPLETED', /RUNNING,COMPUTED,.*COMPLETED$/.test(
    await page.$$eval(task(cfg.okTask) + ' ol.timeline .badge', (b) => b.map((x) => x.textContent).join(','))));
  check('failures list: the reason, as text',
    await text(page, `#failures li[data-task="${cfg.badTask}"] .reason`), cfg.reason);
  // the markup in the reason made nothing: no image, no handler, no dialog
  check('no <img> in the page', await page.evaluate(() => document.images.length), 0);
  check('no element with an onerror attribute', await page.$$eval('[onerror]', (n) => n.length), 0);
  check('failed tile', await text(page, '#summary .tile.failed .n'), '1');
  check('completed tile', await text(page, '#summary .tile.completed .n'), '1');

  // charts: 60 points a series; the two tasks are in them
  const counts = await page.$$eval('#chart-tpm .pt', (c) => c.map((x) => [x.dataset.series, +x.dataset.count]));
  check('tasks per minute: points', counts.length, 120);
  check('tasks per minute: completed', counts.filter(([s]) => s === 'completed').reduce((a, [, n]) => a + n, 0), 1);
  check('tasks per minute: failed', counts.filter(([s]) => s === 'failed').reduce((a, [, n]) => a + n, 0), 1);
  check('overhead: a point for the completed task',
    await page.$$eval(`#chart-overhead circle.pt[data-task="${cfg.okTask}"]`, (c) => c.length), 1);
  truthy('overhead: median and p90 lines',
    (await page.$$eval('#chart-overhead line.median, #chart-overhead line.p90', (l) => l.length)) === 2);
  truthy('overhead note', /median .* p90 .* over 1 task/.test(await text(page, '#overhead-note')));

  // earnings: the owner's row and the worker's, as the chain has them
  check('earnings rows', await page.$$eval('#earnings tbody tr', (r) => r.map((x) => x.dataset.role + ' ' +
    x.dataset.address).join(',')), `owner ${cfg.owner},worker ${cfg.worker}`);
  const before3 = await earningsMatch(page, 'earnings');
  truthy('the worker earned a reward', BigInt(before3[1][0]) > 0n);

  // 4. Live: a task started now shows up and completes without a reload.
  const before = await text(page, '#updated');
  await page.waitForFunction((b) => document.getElementById('updated').textContent !== b, { timeout: 8000 }, before);
  pass++; // refreshed by itself
  fs.writeFileSync(cfg.ready, '');
  await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 3, { timeout: 60000 });
  await page.waitForFunction(() => document.querySelector('#tasks tbody tr').dataset.status === 'COMPLETED',
    { timeout: 90000 });
  check('the new task, newest first', await page.$eval('#tasks tbody tr', (r) => r.dataset.status), 'COMPLETED');
  check('worker completed, live', await text(page, row + ' .completed'), '2');
  const after3 = await earningsMatch(page, 'earnings after the live task');
  truthy('the worker\'s rewards grew with the live task', BigInt(after3[1][0]) > BigInt(before3[1][0]));
  await page.screenshot({ path: cfg.screenshot, fullPage: true });

  // 5. A reload keeps the token (session storage); "forget" drops it.
  phase = 'reload';
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector(row, { timeout: 10000 });
  check('reload: no token asked', await hidden(page, '#login'), true);
  await page.click('#forget');
  check('forget: login shown', await hidden(page, '#login'), false);
  check('forget: dashboard hidden', await hidden(page, '#dash'), true);
  check('forget: token dropped', await page.evaluate(() => sessionStorage.length), 0);

  // no policy violation at any time; no error once the token was right
  check('CSP violations', JSON.stringify(await page.evaluate(() => window.__csp)), '[]');
  check('dialogs', JSON.stringify(dialogs), '[]');
  const unexpected = errors.filter((e) => !(['no-token', 'wrong-token'].includes(e.phase) &&
    /status of 401/.test(e.text)));
  check('console errors', unexpected.length, 0);
  for (const e of unexpected.slice(0, 5)) console.error(`  console (${e.phase}): ${e.text.slice(0, 200)}`);
  check('HTTP errors with the token',
    JSON.stringify(bad.filter((b) => b.phase === 'token' || b.phase === 'reload')), '[]');
}
