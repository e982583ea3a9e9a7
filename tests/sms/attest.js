// Attested provisioning of a task session to a simulated TD, over HTTP:
// the TD side is computed independently here (node crypto: X25519, SHA-512,
// HKDF-SHA256, AES-256-GCM) and its quotes come from `tdexec quote get
// --provider sim`.  Each refusal gets the same 403; the good TD gets its
// session once and can decrypt it.
// Usage: node attest.js SMS_URL CHAIN_JSON TDX_DEAL TDEXEC SIM_DIR STATE_FILE PHASE(first|again)
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const ethers = require('ethers');

const [url, chainFile, deal, tdexec, simDir, stateFile, phase] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const wallet = (i) => new ethers.Wallet(chain.accounts[i].private_key);
const task = ethers.solidityPackedKeccak256(['bytes32', 'uint256'], [deal, 0]);
const q0 = `?dealId=${deal}&taskIndex=0`;
const appDigest = crypto.createHash('sha256').update('app').digest();
const LABEL = 'tdexec session v1';

let pass = 0, fail = 0, step = 'start';
// Every request has a deadline, and the whole run one: a request the SMS
// never answers fails the test with the step it stopped at, not a hang.
const REQUEST_MS = 60000;
const watchdog = setTimeout(() => {
  console.log(`FAIL: no progress for 5 minutes after "${step}"`);
  process.exit(1);
}, 300000);
function check(what, got, want) {
  step = what;
  watchdog.refresh();
  if (got === want) pass++;
  else { fail++; console.log(`FAIL: ${what}: got ${got}, want ${want}`); }
}
async function post(path, body, headers = {}) {
  step = `POST ${path}`;
  const r = await fetch(url + path, { method: 'POST', body: body && JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
    signal: AbortSignal.timeout(REQUEST_MS) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return [r.status, json];
}

// A session for task 0, authorized by the pool (account 3) for worker 7
// (or worker account w); `reassign` {lost, by} adds a reassignment from
// account `lost`, signed by account `by` (the pool's by default), or its
// raw `body`.  Answers {st, id, enclave}; throws on an unexpected status.
function reassignHash(lost, next) {
  return ethers.solidityPackedKeccak256(['bytes', 'uint256', 'bytes32', 'address', 'address'],
    [ethers.toUtf8Bytes('tdexec/task-reassign/v1'), chain.chain_id || 31337, task, lost, next]);
}
const who = (w) => (typeof w === 'number' ? wallet(w) : w);
async function newSession(w = 7, reassign, want = 200) {
  const pool = wallet(3), worker = who(w);
  const enclave = (await (await fetch(`${url}/tee/challenges/${task}${q0}`, { method: 'POST',
    headers: { Authorization: pool.signMessageSync(ethers.getBytes(ethers.keccak256(task))) },
    signal: AbortSignal.timeout(REQUEST_MS) })).text());
  const h = ethers.solidityPackedKeccak256(['address', 'bytes32', 'address'], [worker.address, task, enclave]);
  const body = { workerWallet: worker.address, chainTaskId: task,
    enclaveChallenge: enclave, signature: pool.signMessageSync(ethers.getBytes(h)) };
  if (reassign && reassign.body) body.reassignment = reassign.body;
  else if (reassign) {
    const lost = who(reassign.lost).address;
    body.reassignment = { lostWorker: lost, signature: wallet(reassign.by === undefined ? 3 : reassign.by)
      .signMessageSync(ethers.getBytes(reassignHash(lost, worker.address))) };
  }
  const [st, b] = await post(`/tee/sessions${q0}`, body,
    { Authorization: worker.signMessageSync(ethers.getBytes(h)) });
  if (want !== null && st !== want) throw new Error(`session: ${st}, want ${want}`);
  return { st, id: b && b.sessionId, enclave };
}

function x25519() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  return { privateKey, pub: Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url') };
}

function reportData(nonce, taskId, digest, epk) {
  return crypto.createHash('sha512').update(Buffer.concat([Buffer.from('tdexec-session-v1'),
    nonce, ethers.getBytes(taskId), digest, epk])).digest();
}

// A simulated TD quote with this REPORTDATA; `edit` changes td.json first.
function quote(rd, edit) {
  const args = ['quote', 'get', '--provider', 'sim', '--sim-dir', simDir, '--report-data', rd.toString('hex'), '-o', '-'];
  if (edit) {
    const td = JSON.parse(fs.readFileSync(`${simDir}/td.json`, 'utf8'));
    edit(td);
    fs.writeFileSync(`${simDir}/edited.json`, JSON.stringify(td));
    args.splice(6, 0, '--measurements', `${simDir}/edited.json`);
  }
  return execFileSync(tdexec, args, { timeout: REQUEST_MS });
}

async function nonceFor(id) {
  const [st, b] = await post(`/tdx/sessions/${id}/challenge`);
  if (st !== 200) throw new Error(`nonce: ${st}`);
  return Buffer.from(b.nonce, 'hex');
}

// One attestation attempt; o tweaks one thing.
async function attest(id, o = {}) {
  const key = x25519();
  const nonce = o.nonce || (o.noNonce ? crypto.randomBytes(32) : await nonceFor(id));
  const digest = o.digest || appDigest;
  const rd = reportData(nonce, o.task || task, o.rdDigest || digest, key.pub);
  let q = quote(rd, o.edit);
  if (o.mutate) { q = Buffer.from(q); q[o.mutate] ^= 1; }
  const [st, b] = await post(`/tdx/sessions/${id}/attest`, { quote: q.toString('base64'),
    publicKey: key.pub.toString('hex'), appDigest: digest.toString('hex'),
    ...(o.eventLog !== undefined ? { eventLog: o.eventLog } : {}) });
  return { st, b, key };
}

function open(sealed, key) {
  const eph = sealed.subarray(0, 32), iv = sealed.subarray(32, 44);
  const ct = sealed.subarray(44, sealed.length - 16), tag = sealed.subarray(sealed.length - 16);
  const shared = crypto.diffieHellman({ privateKey: key.privateKey, publicKey: crypto.createPublicKey(
    { key: { kty: 'OKP', crv: 'X25519', x: eph.toString('base64url') }, format: 'jwk' }) });
  const k = Buffer.from(crypto.hkdfSync('sha256', shared, Buffer.alloc(0),
    Buffer.concat([Buffer.from(LABEL), eph, key.pub]), 32));
  const d = crypto.createDecipheriv('aes-256-gcm', k, iv);
  d.setAAD(eph);
  d.setAuthTag(tag);
  return JSON.parse(Buffer.concat([d.update(ct), d.final()]).toString());
}

(async () => {
  if (phase === 'first') {
    const s = await newSession();
    check('attest without a nonce', (await attest(s.id, { noNonce: true })).st, 403);
    check('wrong MRTD', (await attest(s.id, { edit: (td) => { td.MRTD = 'ab'.repeat(48); } })).st, 403);
    check('a debug TD', (await attest(s.id, { edit: (td) => { td.TDATTRIBUTES = '01' + td.TDATTRIBUTES.slice(2); } })).st, 403);
    check('a mutated quote', (await attest(s.id, { mutate: 300 })).st, 403);
    check('a quote for another task', (await attest(s.id, { task: ethers.keccak256('0x02') })).st, 403);
    const other = crypto.createHash('sha256').update('other app').digest();
    check('a wrong app digest', (await attest(s.id, { digest: other })).st, 403);
    check('REPORTDATA over another digest', (await attest(s.id, { rdDigest: other })).st, 403);
    check('an event log that does not replay to RTMR3',
      (await attest(s.id, { eventLog: '{"rtmr":3,"digest":"' + 'cd'.repeat(48) + '","event":"x"}\n' })).st, 403);
    // a log whose RTMR3 replays to the quote's but that extends RTMR2 too,
    // which it does not replay to: every RTMR a log touches is checked
    const d3 = Buffer.alloc(48, 0x3d), d2 = Buffer.alloc(48, 0x2d);
    const r3 = crypto.createHash('sha384').update(Buffer.concat([Buffer.alloc(48), d3])).digest('hex');
    const line = (n, d) => `{"rtmr":${n},"digest":"${d.toString('hex')}","event":"x"}\n`;
    check('an event log whose RTMR2 does not replay',
      (await attest(s.id, { edit: (td) => { td.RTMR3 = r3; }, eventLog: line(3, d3) + line(2, d2) })).st, 403);
    // a nonce is consumed by its first use, even a refused one
    const n = await nonceFor(s.id);
    check('first use of a nonce (refused: wrong digest)', (await attest(s.id, { nonce: n, digest: other })).st, 403);
    check('the same nonce replayed', (await attest(s.id, { nonce: n })).st, 403);
    check('unknown session', (await post(`/tdx/sessions/${'0'.repeat(32)}/challenge`))[0], 404);
    check('malformed attest body', (await post(`/tdx/sessions/${s.id}/attest`, { quote: 'x' }))[0], 400);
    // the log is kept in the receipt, whose size must stay bounded: JSON
    // lines only, no control character that JSON would escape to six bytes
    const cc = await attest(s.id, { eventLog: '{"rtmr":3,"event":"x"}\u0001\n' });
    check('an event log with a control character', cc.st + ' ' + /control character 0x01/.test(JSON.stringify(cc.b)), '400 true');
    // a nonce issued before a restart of the SMS
    fs.writeFileSync(stateFile, JSON.stringify({ id: s.id, nonce: (await nonceFor(s.id)).toString('hex') }));
  } else {
    const st = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    check('a nonce from before a restart', (await attest(st.id, { nonce: Buffer.from(st.nonce, 'hex') })).st, 403);
    // the right TD gets its session, sealed to its key
    const r = await attest(st.id);
    check('attested release', r.st, 200);
    if (r.st === 200) {
      const sess = open(Buffer.from(r.b.session, 'base64'), r.key);
      const svc = Object.fromEntries(sess.services.map((x) => [x.name, x]));
      check('session name', sess.name, st.id);
      check('services', sess.services.map((x) => x.name).join(','), 'pre-compute,app,post-compute');
      const env = svc.app.environment, post = svc['post-compute'].environment;
      check('image', svc.app.image_name.startsWith('docker.io/library/app@sha256:'), true);
      check('fingerprint', svc.app.fingerprint, '0x' + appDigest.toString('hex'));
      check('pre/post fingerprint is the TD', svc['pre-compute'].fingerprint.length, 96);
      check('IEXEC_TASK_ID', env.IEXEC_TASK_ID, task);
      check('SIGN_WORKER_ADDRESS', post.SIGN_WORKER_ADDRESS, wallet(7).address.toLowerCase());
      check('IEXEC_APP_DEVELOPER_SECRET', env.IEXEC_APP_DEVELOPER_SECRET, 'dev');
      check('IEXEC_REQUESTER_SECRET_1', env.IEXEC_REQUESTER_SECRET_1, 't');
      // the storage token after a refused rollback (secrets.js): the new value
      check('RESULT_STORAGE_TOKEN', post.RESULT_STORAGE_TOKEN, 'ipfs-new');
      check('the app service holds no post-compute key', env.SIGN_TEE_CHALLENGE_PRIVATE_KEY, undefined);
      check('challenge key is the task enclave challenge',
        new ethers.Wallet(post.SIGN_TEE_CHALLENGE_PRIVATE_KEY).address, (await newSession(7, undefined, null)).enclave);
    }
    // released once per task: another session of the task gets nothing
    check('another session for the worker it was released to', (await newSession(7, undefined, null)).st, 403);
    check('the released session is gone', (await post(`/tdx/sessions/${st.id}/challenge`))[0], 404);
    // A lost worker's task: the pool owner reassigns it, and the SMS
    // releases it once more, to a worker it never released it to,
    // SMS_MAX_RELEASES (3) times in all.
    const s8 = await newSession(8);
    check('another worker without a reassignment', (await attest(s8.id)).st, 403);
    check('one open session per worker and task', (await newSession(8)).id, s8.id);
    check('a reassignment signed by the new worker', (await newSession(8, { lost: 7, by: 8 }, 401)).st, 401);
    check('a reassignment signed for another task', (await newSession(8, { body: { lostWorker:
      wallet(7).address, signature: wallet(3).signMessageSync(ethers.getBytes(ethers.keccak256('0x01'))) } }, 401)).st, 401);
    check('a reassignment to the lost worker itself', (await newSession(9, { lost: 9 }, 401)).st, 401);
    check('a reassignment without a signature', (await newSession(8, { body: { lostWorker: wallet(7).address } }, 401)).st, 401);
    // 8 is given the task (7 -> 8) but goes silent; the pool reassigns it
    // to 9 (8 -> 9), which is released the session; 8 then gets nothing.
    check('the reassigned session is the open one', (await newSession(8, { lost: 7 })).id, s8.id);
    const r9 = await attest((await newSession(9, { lost: 8 })).id);
    check('released to the worker the task was reassigned to', r9.st, 200);
    if (r9.st === 200) {
      const post9 = open(Buffer.from(r9.b.session, 'base64'), r9.key).services.find((x) => x.name === 'post-compute');
      check('the session names the new worker', post9.environment.SIGN_WORKER_ADDRESS, wallet(9).address.toLowerCase());
    }
    check('a worker declared lost attests after its successor', (await attest(s8.id)).st, 403);
    check('reassigned back to a worker it was released to', (await newSession(7, { lost: 9 }, 403)).st, 403);
    check('a second reassignment', (await attest((await newSession(6, { lost: 9 })).id)).st, 200);
    const x = ethers.Wallet.createRandom();
    check('a reassignment past three releases', (await attest((await newSession(x, { lost: 6 })).id)).st, 403);
    // Sessions of at most 16 workers per task, so one paid task cannot fill
    // the SMS's table of pending attestations for every other pool.
    let made = 0, last = 0;
    for (let i = 0; i < 20 && (last = (await newSession(ethers.Wallet.createRandom(), undefined, null)).st) === 200; i++) made++;
    check('sessions past the per-task cap', last, 429);
    check('sessions made before the cap', made > 0 && made < 16, true);
  }
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
