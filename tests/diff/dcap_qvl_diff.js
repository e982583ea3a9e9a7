// Differential test: tdexec and @phala/dcap-qvl (pinned in package.json)
// verify the same inputs — every real quote with its collateral, a simulated
// quote, and generated mutations of them — and must reach the same verdict
// (ok/fail, and the TCB status and advisories when ok).  Where they differ
// by design the case is classified with its reason (docs/verification.md);
// any other disagreement fails the test.
//
// Usage: node dcap_qvl_diff.js TDEXEC TEST_DATA_DIR [MUTATIONS_PER_BASE]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const qvl = require('@phala/dcap-qvl');

const [tdexec, data, perBaseArg = '220'] = process.argv.slice(2);
const perBase = Number(perBaseArg);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tdexec-diff-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const { rnd, pick } = require('./prng')(0x7d3c9a11);

function simBase() {
  const dir = path.join(tmp, 'sim');
  const at = 1751000000;
  let r = spawnSync(tdexec, ['sim', 'init', '--at', String(at), dir]);
  if (r.status !== 0) throw new Error('sim init: ' + r.stderr);
  r = spawnSync(tdexec, ['quote', 'get', '--provider', 'sim', '--sim-dir', dir,
    '--report-data', 'ab'.repeat(64), '-o', path.join(dir, 'q.dat')]);
  if (r.status !== 0) throw new Error('quote get: ' + r.stderr);
  return {
    name: 'sim', quote: fs.readFileSync(path.join(dir, 'q.dat')),
    coll: JSON.parse(fs.readFileSync(path.join(dir, 'collateral', 'collateral.json'), 'utf8')),
    at: at + 3600, root: path.join(dir, 'root_ca.pem'),
  };
}

const T = (p) => path.join(data, 'tdx', p);
const bases = [
  { name: 'phala-tdx', q: 'phala-dcap-qvl/tdx_quote', c: 'phala-dcap-qvl/tdx_quote_collateral.json', at: 1751000000 },
  { name: 'phala-tdx-outdated', q: 'phala-dcap-qvl/tdx_quote_outdated', c: 'phala-dcap-qvl/tdx_quote_outdated_collateral.json', at: 1772000000 },
  { name: 'phala-sgx', q: 'phala-dcap-qvl/sgx_quote', c: 'phala-dcap-qvl/sgx_quote_collateral.json', at: 1751000000 },
  { name: 'go-tdx-guest-spr', q: 'google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat', c: 'google-go-tdx-guest/derived_collateral_2023_fmspc50806f_phala_format.json', at: 1688173200 },
].map((b) => ({ name: b.name, quote: fs.readFileSync(T(b.q)), coll: JSON.parse(fs.readFileSync(T(b.c), 'utf8')), at: b.at }));
bases.push(simBase());

function pemRoot(file) {
  const pem = fs.readFileSync(file, 'utf8');
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64');
}

function runQvl(c) {
  try {
    const v = c.root ? qvl.QuoteVerifier.newWithRootCa(pemRoot(c.root)) : qvl.QuoteVerifier.newProd();
    const r = v.verify(c.quote, c.coll, c.at);
    return { ok: true, status: r.status, advisories: [...r.advisory_ids].sort() };
  } catch (e) {
    return { ok: false, reason: e.message };
  }
}

let fileNo = 0;
function runTdexec(c) {
  const id = fileNo++;
  const q = path.join(tmp, `q${id}`), col = path.join(tmp, `c${id}.json`);
  fs.writeFileSync(q, c.quote);
  fs.writeFileSync(col, JSON.stringify(c.coll));
  const args = ['quote', 'verify', '--json', q, '--collateral', col, '--at', String(c.at)];
  if (c.root) args.push('--trust-sim-root', c.root);
  const r = spawnSync(tdexec, args, { encoding: 'utf8' });
  fs.rmSync(q);
  fs.rmSync(col);
  // 0 verified, 1 tool error, 2 verification failed, 3 fetch, 4 policy, 5 parse (docs/cli.md)
  if (r.status === null || r.status > 5) throw new Error(`tdexec exit ${r.status}: ${r.stderr}`);
  const j = JSON.parse(r.stdout); // --json: a verdict, or {"error", "code"}
  if (r.status === 0) return { ok: true, status: j.attester_tcb_status, advisories: [...j.attester_advisory_ids].sort() };
  if (j.code !== undefined && j.code !== r.status) throw new Error(`exit ${r.status} but code ${j.code}`);
  return { ok: false, reason: j.reason || (j.policy_mismatches || [])[0] || j.error || r.stderr.trim() };
}

// Differences by design (see docs/verification.md).  Each returns a reason or null.
const byDesign = [
  (t, q) => !t.ok && q.ok && /SGX quote, not a TDX quote/.test(t.reason)
    ? 'tdexec verifies TDX quotes only; SGX quotes are refused' : null,
  (t, q) => !t.ok && q.ok && /CRL/.test(t.reason)
    ? 'tdexec checks the CRLs and their issuer chain (signatures, issuers, validity windows); dcap-qvl only looks serials up in them' : null,
  (t, q) => !t.ok && q.ok && /QE vendor id/.test(t.reason)
    ? 'tdexec requires Intel\'s QE vendor id in the quote header, as Intel\'s QVL does' : null,
  (t, q) => !t.ok && q.ok && /(non-minimal length|trailing bytes|bad time|malformed time|tag 0x)/.test(t.reason)
    ? 'tdexec reads certificates as strict DER; dcap-qvl (Node X509Certificate) accepts some BER/sloppy encodings' : null,
  (t, q) => !t.ok && q.ok && /PEM|base64/.test(t.reason)
    ? 'tdexec refuses a PEM block that is not valid base64; dcap-qvl decodes it leniently' : null,
];

function mutate(b) {
  const c = { name: b.name, quote: Buffer.from(b.quote), coll: { ...b.coll }, at: b.at, root: b.root };
  const kind = pick(3);
  if (kind === 0) {
    const i = pick(c.quote.length);
    c.quote[i] ^= 1 + pick(255);
    c.what = `quote byte ${i}`;
  } else if (kind === 1) {
    const fields = Object.keys(c.coll);
    const f = fields[pick(fields.length)];
    const s = c.coll[f];
    const isHex = /^[0-9a-fA-F]+$/.test(s);
    const alphabet = isHex ? '0123456789abcdef'
      : 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    let i = pick(s.length);
    if (!isHex && f.endsWith('chain')) {
      // stay inside base64 text so the PEM still has its shape
      while (!/[A-Za-z0-9+/]/.test(s[i]) || s.slice(Math.max(0, i - 5), i + 5).includes('-')) i = pick(s.length);
    }
    let ch = alphabet[pick(alphabet.length)];
    if (ch === s[i]) ch = alphabet[(alphabet.indexOf(ch) + 1) % alphabet.length];
    c.coll[f] = s.slice(0, i) + ch + s.slice(i + 1);
    c.what = `${f} char ${i}`;
  } else {
    c.at = b.at + (pick(801) - 400) * 86400;
    c.what = `time ${c.at}`;
  }
  return c;
}

const cases = [];
for (const b of bases) {
  cases.push({ ...b, what: 'as published' });
  for (let i = 0; i < perBase; i++) cases.push(mutate(b));
}

let agree = 0, designed = 0;
const reasons = new Map();
const failures = [];
for (const c of cases) {
  const t = runTdexec(c), q = runQvl(c);
  const same = t.ok === q.ok && (!t.ok || (t.status === q.status &&
    JSON.stringify(t.advisories) === JSON.stringify(q.advisories)));
  if (same) { agree++; continue; }
  const why = byDesign.map((f) => f(t, q)).find((x) => x);
  if (why) {
    designed++;
    if (process.env.DIFF_VERBOSE) console.log(`  design: ${c.name} / ${c.what}: ${t.reason}`);
    reasons.set(why, (reasons.get(why) || 0) + 1);
    continue;
  }
  failures.push(`${c.name} / ${c.what}: tdexec ${JSON.stringify(t)} vs dcap-qvl ${JSON.stringify(q)}`);
}

console.log(`differential: ${cases.length} cases, ${agree} agree, ${designed} differ by design, ${failures.length} disagree`);
for (const [why, n] of reasons) console.log(`  by design (${n}): ${why}`);
for (const f of failures.slice(0, 20)) console.log(`  DISAGREE: ${f}`);
console.log(`${agree + designed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
