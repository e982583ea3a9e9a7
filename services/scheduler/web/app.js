// The pool's dashboard: reads the scheduler's admin endpoints (GET /workers,
// /stats, /tasks; docs/scheduler-api.md) every 2 s with the admin token the
// reader pasted, and draws them.
//
// Workers and apps write some of what is shown (a failure's reason can be a
// runtime's words about the app's entrypoint), so every value from the API
// goes into the document as text (text nodes, textContent, attribute values)
// and never through innerHTML; the page's Content-Security-Policy allows no
// inline script besides.
'use strict';

(function () {
  const KEY = 'tdexec.adminToken';
  const REFRESH_MS = 2000;
  const SVG = 'http://www.w3.org/2000/svg';
  const STATUSES = ['RECEIVED', 'INITIALIZED', 'RUNNING', 'COMPUTED', 'CONTRIBUTING',
    'CONTRIBUTED', 'COMPLETED', 'FAILED', 'REORGED'];
  const $ = (id) => document.getElementById(id);

  let timer = null;
  let generation = 0; // a reply to an older token's request is dropped

  // A node with attributes and children; a string child is a text node.
  function make(ns, tag, attrs, kids) {
    const n = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) n.setAttribute(k, String(v));
    }
    for (const k of kids) {
      if (k === null || k === undefined) continue;
      n.appendChild(typeof k === 'string' || typeof k === 'number'
        ? document.createTextNode(String(k)) : k);
    }
    return n;
  }
  const el = (tag, attrs, ...kids) => make(null, tag, attrs, kids);
  const sv = (tag, attrs, ...kids) => make(SVG, tag, attrs, kids);

  const str = (v) => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));
  const short = (h) => { h = str(h); return h.length > 14 ? h.slice(0, 8) + '\u2026' + h.slice(-4) : h; };
  const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const known = (s) => (STATUSES.includes(s) ? s : null);

  function ago(s) {
    if (typeof s !== 'number' || !isFinite(s)) return '?';
    if (s < 0) s = 0;
    if (s < 90) return Math.round(s) + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  }

  function duration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '\u2013';
    if (Math.abs(ms) < 1000) return Math.round(ms) + ' ms';
    if (Math.abs(ms) < 120000) return (ms / 1000).toFixed(1) + ' s';
    return (ms / 60000).toFixed(1) + ' min';
  }

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const iso = (ms) => { const d = new Date(ms); return isNaN(d) ? '' : d.toISOString(); };

  function banner(text) {
    const b = $('banner');
    b.textContent = text || '';
    b.hidden = !text;
  }

  // ---- the token ----------------------------------------------------------

  function showLogin(why) {
    generation++;
    clearTimeout(timer);
    $('dash').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = why || '';
    $('updated').textContent = '';
    $('pool').textContent = '';
    banner(null);
    $('token').value = '';
    $('token').focus();
  }

  function start() {
    generation++;
    clearTimeout(timer);
    $('login').hidden = true;
    $('forget').hidden = false;
    refresh(generation);
  }

  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(t)) {
      $('login-error').textContent = 'An admin token is 64 hex digits (the content of admin.token).';
      return;
    }
    sessionStorage.setItem(KEY, t);
    start();
  });

  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    showLogin(null);
  });

  // ---- the API ------------------------------------------------------------

  async function api(path) {
    const r = await fetch(path, {
      headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) },
      cache: 'no-store',
    });
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (!r.ok) {
      const why = body && typeof body === 'object' ? str(body.reason || body.error) : '';
      const err = new Error(path.split('?')[0] + ': HTTP ' + r.status + (why ? ': ' + why : ''));
      err.status = r.status;
      err.reason = why;
      throw err;
    }
    if (!body || typeof body !== 'object') throw new Error(path + ': not a JSON object');
    return body;
  }

  async function refresh(gen) {
    try {
      const [w, st, t] = await Promise.all([api('workers'), api('stats'), api('tasks?limit=100')]);
      if (gen !== generation) return;
      render(w, st, t);
      banner(null);
      $('dash').hidden = false;
      $('updated').textContent = 'updated ' + clock(Date.now());
    } catch (e) {
      if (gen !== generation) return;
      if (e.status === 401) {
        // a restart of the scheduler draws a new token: ask again
        sessionStorage.removeItem(KEY);
        showLogin('The scheduler refused the token: ' + (e.reason || 'unauthorized') +
          '. Paste the current content of admin.token.');
        return;
      }
      banner('Cannot read the pool (retrying every 2 s): ' + e.message);
    }
    timer = setTimeout(() => refresh(gen), REFRESH_MS);
  }

  // ---- drawing ------------------------------------------------------------

  function render(w, st, t) {
    const workers = Array.isArray(w.workers) ? w.workers : [];
    const tasks = Array.isArray(t.tasks) ? t.tasks : [];
    const pool = st.pool || {};
    $('pool').textContent = 'workerpool ' + str(pool.workerpool) + ' \u00b7 owner ' +
      str(pool.owner) + ' \u00b7 chain ' + str(pool.chainId);
    summary(st);
    workerRows(workers, w.aliveWindow, w.now);
    earnings(pool.owner, st.ownerEarnings, workers);
    tasksPerMinute(st.tasksPerMinute || {});
    overhead(st.overhead || {}, tasks);
    failures(tasks, st.now);
    taskRows(tasks, st.now);
  }

  function tile(n, k, cls) {
    return el('div', { class: 'tile' + (cls ? ' ' + cls : '') },
      el('span', { class: 'n' }, str(n)), el('span', { class: 'k' }, k));
  }

  function summary(st) {
    const byStatus = st.tasks || {};
    const wk = st.workers || {};
    const tiles = [tile(wk.alive, 'workers alive'), tile(wk.registered, 'workers registered')];
    for (const s of STATUSES) {
      if (typeof byStatus[s] === 'number') tiles.push(tile(byStatus[s], s.toLowerCase(), s.toLowerCase()));
    }
    $('summary').replaceChildren(...tiles);
  }

  function badge(text, cls, title) {
    return el('span', { class: 'badge ' + cls, title: title || null }, text);
  }

  function workerRows(workers, aliveWindow, now) {
    const rows = workers.map((x) => {
      const tcb = str(x.tcbStatus);
      const current = Array.isArray(x.currentTasks) ? x.currentTasks : [];
      return el('tr', { 'data-worker': str(x.address) },
        el('td', { class: 'mono address' }, str(x.address)),
        el('td', {},
          x.alive ? badge('alive', 'alive', 'seen within ' + str(aliveWindow) + ' s')
            : badge('offline', 'offline', 'not seen for more than ' + str(aliveWindow) + ' s'),
          el('span', { class: 'muted' }, ago(x.lastSeenAgo))),
        el('td', { class: 'attestation' },
          badge(tcb || '?', tcb === 'UpToDate' ? 'uptodate' : 'tcb-other', 'TCB status of its quote'),
          x.simulated
            ? badge('SIMULATED', 'sim', 'its quote verified under a simulated root: no hardware TD')
            : badge('TDX', 'hw', 'its quote verified under Intel\u2019s root'),
          x.quoteSha256 ? el('span', { class: 'muted mono', title: 'SHA-256 of its quote: ' + str(x.quoteSha256) },
            'quote ' + short(x.quoteSha256)) : null),
        el('td', { class: 'mono mrtd', title: str(x.mrtd) }, short(x.mrtd)),
        el('td', { class: 'mono current' },
          ...(current.length ? current.map((c) => el('div', { title: str(c) }, short(c))) : ['\u2013'])),
        el('td', { class: 'num completed' }, str(x.completed)),
        el('td', { class: 'num failed' }, str(x.failed)),
        el('td', { class: 'muted' },
          typeof x.registeredAt === 'number' ? ago(now - x.registeredAt) : '?'));
    });
    $('workers').tBodies[0].replaceChildren(...rows);
    $('workers-empty').hidden = rows.length > 0;
  }

  // nRLC (a decimal string, exact) as RLC, for a title: 9 decimals
  function rlc(n) {
    n = str(n);
    if (!/^[0-9]+$/.test(n)) return '';
    const p = n.padStart(10, '0');
    const frac = p.slice(-9).replace(/0+$/, '');
    return p.slice(0, -9).replace(/^0+(?=.)/, '') + (frac ? '.' + frac : '') + ' RLC';
  }

  // The pool owner's and each worker's earnings (GET /stats ownerEarnings,
  // GET /workers earnings), as the scheduler read them from the chain.
  function earnings(owner, own, workers) {
    const amount = (cls, v) => el('td', { class: 'num mono ' + cls, title: rlc(v) },
      v === null || v === undefined ? '\u2013' : str(v));
    const row = (role, address, e) => el('tr', { 'data-address': str(address), 'data-role': role },
      el('td', {}, role),
      el('td', { class: 'mono address' }, str(address)),
      amount('rewards', e.rewards), amount('seized', e.seized),
      amount('stake', e.stake), amount('locked', e.locked),
      el('td', { class: 'muted counted' }, 'blocks ' + str(e.sinceBlock) + '\u2013' + str(e.toBlock) +
        (typeof e.accountBlock === 'number' ? ', account at ' + e.accountBlock : '')));
    const rows = [];
    if (own && typeof own === 'object') rows.push(row('owner', owner, own));
    for (const x of workers) {
      if (x.earnings && typeof x.earnings === 'object') rows.push(row('worker', x.address, x.earnings));
    }
    $('earnings').tBodies[0].replaceChildren(...rows);
  }

  function timeline(events) {
    if (!Array.isArray(events) || !events.length) return el('span', { class: 'muted' }, '\u2013');
    const t0 = events[0].atMs;
    return el('ol', { class: 'timeline' }, ...events.map((e, i) => el('li',
      { title: iso(e.atMs) + (e.worker ? ' by ' + str(e.worker) : '') + (e.detail ? ': ' + str(e.detail) : '') },
      badge(str(e.status), known(e.status) || ''),
      i ? el('span', { class: 'at' }, '+' + duration(e.atMs - t0)) : el('span', { class: 'at' }, clock(t0)))));
  }

  function taskRows(tasks, now) {
    const rows = tasks.map((x) => {
      const failed = x.status === 'FAILED';
      return el('tr', { 'data-task': str(x.taskId), 'data-status': str(x.status) },
        el('td', { class: 'mono', title: str(x.taskId) }, short(x.taskId)),
        el('td', { class: 'mono', title: str(x.dealId) }, short(x.dealId), ' #' + str(x.taskIndex)),
        el('td', { class: 'status' }, badge(str(x.status), known(x.status) || ''),
          failed && x.reason ? el('span', { class: 'reason' }, str(x.reason)) : null),
        el('td', { class: 'mono', title: str(x.worker) }, x.worker ? short(x.worker) : '\u2013'),
        el('td', { class: 'num' }, duration(x.appMs)),
        el('td', { class: 'muted' }, typeof x.updated === 'number' ? ago(now - x.updated) : '?'),
        el('td', {}, timeline(x.timeline)));
    });
    $('tasks').tBodies[0].replaceChildren(...rows);
    $('tasks-empty').hidden = rows.length > 0;
  }

  function failures(tasks, now) {
    const items = tasks.filter((x) => x.status === 'FAILED').slice(0, 10).map((x) =>
      el('li', { 'data-task': str(x.taskId) },
        el('span', { class: 'muted' }, typeof x.updated === 'number' ? ago(now - x.updated) : '?'), ' ',
        el('span', { class: 'mono', title: str(x.taskId) }, 'task ' + short(x.taskId)),
        x.worker ? el('span', { class: 'mono muted', title: str(x.worker) }, ' on ' + short(x.worker)) : null,
        el('span', { class: 'reason' }, str(x.reason || x.detail) || 'no reason given')));
    $('failures').replaceChildren(...items);
    $('failures-empty').hidden = items.length > 0;
  }

  // ---- charts (inline SVG, 640 x 180) ---------------------------------------

  const W = 640, H = 180, L = 36, R = 8, T = 10, B = 24;

  function frame(svg, ymax, yfmt, xlabels) {
    const kids = [
      sv('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }),
      sv('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }),
      sv('text', { class: 'label', x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'),
      sv('text', { class: 'label', x: L - 4, y: T + 8, 'text-anchor': 'end' }, yfmt(ymax)),
    ];
    for (const [x, text, anchor] of xlabels) {
      kids.push(sv('text', { class: 'label', x: x, y: H - 6, 'text-anchor': anchor }, text));
    }
    svg.replaceChildren(...kids);
  }

  const yOf = (v, ymax) => H - B - (v / ymax) * (H - B - T);

  // One stacked bar a minute: completed below, failed above.
  function tasksPerMinute(tpm) {
    const svg = $('chart-tpm');
    const done = Array.isArray(tpm.completed) ? tpm.completed : [];
    const failed = Array.isArray(tpm.failed) ? tpm.failed : [];
    const n = Math.max(done.length, failed.length, 1);
    const step = typeof tpm.bucketSeconds === 'number' ? tpm.bucketSeconds : 60;
    const num = (v) => (typeof v === 'number' && isFinite(v) && v > 0 ? v : 0);
    const ymax = Math.max(1, ...Array.from({ length: n }, (_, i) => num(done[i]) + num(failed[i])));
    const bw = (W - L - R) / n;
    frame(svg, ymax, String, [[L, '\u2212' + Math.round((n * step) / 60) + ' min', 'start'],
      [(L + W - R) / 2, '\u2212' + Math.round((n * step) / 120) + ' min', 'middle'], [W - R, 'now', 'end']]);
    for (let i = 0; i < n; i++) {
      const at = typeof tpm.start === 'number' ? clock((tpm.start + i * step) * 1000) : '';
      let base = 0;
      for (const [series, cls] of [[done, 'completed'], [failed, 'failed']]) {
        if (i >= series.length) continue;
        const v = num(series[i]);
        svg.appendChild(sv('rect', {
          class: 'pt ' + cls, x: (L + i * bw + 0.5).toFixed(1), width: Math.max(1, bw - 1).toFixed(1),
          y: yOf(base + v, ymax).toFixed(1), height: (yOf(base, ymax) - yOf(base + v, ymax)).toFixed(1),
          'data-count': v, 'data-series': cls,
        }, sv('title', {}, at + ': ' + v + ' ' + cls)));
        base += v;
      }
    }
  }

  // What GET /stats calls overhead, per task: from its last RUNNING to
  // COMPLETED, less the app's own run time (appMs, from its worker).
  function overheadOf(x) {
    if (x.status !== 'COMPLETED' || typeof x.appMs !== 'number' || !Array.isArray(x.timeline)) return null;
    let run = null, done = null;
    for (const e of x.timeline) {
      if (e.status === 'COMPLETED' && done === null) done = e.atMs;
      if (e.status === 'RUNNING' && done === null) run = e.atMs;
    }
    if (run === null || done === null) return null;
    return { at: done, ms: done - run - x.appMs, task: x.taskId };
  }

  function overhead(o, tasks) {
    const svg = $('chart-overhead');
    const pts = tasks.map(overheadOf).filter(Boolean).sort((a, b) => a.at - b.at);
    const med = typeof o.medianMs === 'number' ? o.medianMs : null;
    const p90 = typeof o.p90Ms === 'number' ? o.p90Ms : null;
    const ymax = Math.max(1, ...pts.map((p) => p.ms), med || 0, p90 || 0) * 1.1;
    const t0 = pts.length ? pts[0].at : 0, t1 = pts.length ? pts[pts.length - 1].at : 0;
    const xOf = (at) => (t1 > t0 ? L + ((at - t0) / (t1 - t0)) * (W - L - R) : (L + W - R) / 2);
    frame(svg, ymax, duration, pts.length ? [[L, clock(t0), 'start'], [W - R, clock(t1), 'end']] : []);
    for (const [v, cls, name] of [[med, 'median', 'median'], [p90, 'p90', 'p90']]) {
      if (v === null) continue;
      svg.appendChild(sv('line', { class: cls, x1: L, x2: W - R, y1: yOf(v, ymax), y2: yOf(v, ymax) }));
      svg.appendChild(sv('text', { class: 'label', x: W - R, y: yOf(v, ymax) - 3, 'text-anchor': 'end' },
        name + ' ' + duration(v)));
    }
    for (const p of pts) {
      svg.appendChild(sv('circle', {
        class: 'pt overhead', cx: xOf(p.at).toFixed(1), cy: yOf(Math.max(0, p.ms), ymax).toFixed(1), r: 3.5,
        'data-ms': p.ms, 'data-task': str(p.task),
      }, sv('title', {}, short(p.task) + ': ' + duration(p.ms))));
    }
    $('overhead-note').textContent = typeof o.samples === 'number' && o.samples > 0
      ? 'Last hour: median ' + duration(med) + ', p90 ' + duration(p90) + ' over ' + o.samples +
        ' task' + (o.samples > 1 ? 's' : '') + '. ' + capital(str(o.definition))
      : 'No task completed in the last hour with its app\u2019s run time.';
  }

  // ---- start ----------------------------------------------------------------

  if (sessionStorage.getItem(KEY)) start();
  else showLogin(null);
})();
