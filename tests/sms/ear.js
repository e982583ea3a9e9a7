// The attestation-result token of a real release, checked by an independent
// JWT library (jose): a task session is released to a simulated TD over
// HTTP (the TD side computed here, its quote from `tdexec quote get
// --provider sim`), the SMS's JWK Set is fetched over HTTP, and jose
// verifies the token's ES256 signature and its claims; a tampered token and
// another key are refused.  Leaves files for ear.sh to give `tdexec ear
// verify`: token, tampered, wrong-jwks.json, jose-token + jose-jwks.json (a
// token signed by jose, which tdexec must accept), jose-high-s (the same
// token, its s as n - s: refused by tdexec, not by jose), jose-profile and
// jose-future (claims that do not hold), task.
// Usage: node ear.js SMS_URL CHAIN_JSON TDX_DEAL TDEXEC SIM_DIR OUT_DIR
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const ethers = require('ethers');
const jose = require('jose');

const [url, chainFile, deal, tdexec, simDir, outDir] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const td = JSON.parse(fs.readFileSync(`${simDir}/td.json`, 'utf8'));
const wallet = (i) => new ethers.Wallet(chain.accounts[i].private_key);
const task = ethers.solidityPackedKeccak256(['bytes32', 'uint256'], [deal, 0]);
const q0 = `?dealId=${deal}&taskIndex=0`;
const appDigest = crypto.createHash('sha256').update('app').digest();

let pass = 0, fail = 0;
function check(what, got, want) {
  if (got === want) pass++;
  else { fail++; console.log(`FAIL: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
}
async function post(path, body, headers = {}) {
  const r = await fetch(url + path, { method: 'POST', body: body && JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers } });
  return [r.status, await r.json().catch(() => null)];
}
async function refused(what, p) {
  try { await p; fail++; console.log(`FAIL: ${what}: accepted`); } catch (e) { pass++; return e; }
}

(async () => {
  // a session of task 0 for worker 7, authorized by the pool (account 3)
  const pool = wallet(3), worker = wallet(7);
  const enclave = await (await fetch(`${url}/tee/challenges/${task}${q0}`, { method: 'POST',
    headers: { Authorization: pool.signMessageSync(ethers.getBytes(ethers.keccak256(task))) } })).text();
  const h = ethers.solidityPackedKeccak256(['address', 'bytes32', 'address'], [worker.address, task, enclave]);
  const [st, s] = await post(`/tee/sessions${q0}`, { workerWallet: worker.address, chainTaskId: task,
    enclaveChallenge: enclave, signature: pool.signMessageSync(ethers.getBytes(h)) },
  { Authorization: worker.signMessageSync(ethers.getBytes(h)) });
  check('session', st, 200);
  // the TD: an X25519 key, REPORTDATA binding nonce, task, digest and key
  const [, n] = await post(`/tdx/sessions/${s.sessionId}/challenge`);
  const { publicKey } = crypto.generateKeyPairSync('x25519');
  const epk = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const rd = crypto.createHash('sha512').update(Buffer.concat([Buffer.from('tdexec-session-v1'),
    Buffer.from(n.nonce, 'hex'), ethers.getBytes(task), appDigest, epk])).digest();
  const quote = execFileSync(tdexec, ['quote', 'get', '--provider', 'sim', '--sim-dir', simDir,
    '--report-data', rd.toString('hex'), '-o', '-']);
  const t0 = Math.floor(Date.now() / 1000);
  const [ast, rel] = await post(`/tdx/sessions/${s.sessionId}/attest`, { quote: quote.toString('base64'),
    publicKey: epk.toString('hex'), appDigest: appDigest.toString('hex') });
  check('attested release', ast, 200);
  const token = rel && rel.ear;
  check('the release carries a token', typeof token, 'string');
  if (typeof token !== 'string') { console.log(`${pass} passed, ${fail + 1} failed`); process.exit(1); }

  // the SMS's keys, over HTTP, under both paths
  const jr = await fetch(`${url}/.well-known/jwks.json`);
  check('jwks content type', jr.headers.get('content-type'), 'application/jwk-set+json');
  const jwks = await jr.json();
  check('/ear/jwks is the same set', JSON.stringify(await (await fetch(`${url}/ear/jwks`)).json()),
    JSON.stringify(jwks));
  const jwk = jwks.keys[0];
  check('kid is the RFC 7638 thumbprint (jose)', jwk.kid, await jose.calculateJwkThumbprint(jwk, 'sha256'));
  check('no private part published', jwk.d, undefined);

  // jose checks signature and claims
  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks),
    { algorithms: ['ES256'], typ: 'eat+jwt' });
  check('alg', protectedHeader.alg, 'ES256');
  check('kid', protectedHeader.kid, jwk.kid);
  check('signature is raw r||s (64 bytes)', Buffer.from(token.split('.')[2], 'base64url').length, 64);
  check('eat_profile', payload.eat_profile, 'tag:github.com,2023:veraison/ear');
  check('iat', Math.abs(payload.iat - t0) <= 60, true);
  check('verifier-id developer', payload['ear.verifier-id'].developer, 'tdexec');
  check('verifier-id build', /^tdexec \d/.test(payload['ear.verifier-id'].build), true);
  const sub = payload.submods.tdx;
  // a simulated TD: never affirming
  check('ear.status of a simulated TD', sub['ear.status'], 'contraindicated');
  check('tdexec_simulated', sub.tdexec_simulated, true);
  const tv = sub['ear.trustworthiness-vector'];
  check('hardware: unrecognized', tv.hardware, 97);
  check('instance-identity: unrecognized', tv['instance-identity'], 97);
  check('runtime-opaque: visible memory', tv['runtime-opaque'], 96);
  check('configuration: approved', tv.configuration, 2);
  check('executables: boot chain only (no runtime log)', tv.executables, 3);
  check('appraisal policy id', /^sha256:[0-9a-f]{64}$/.test(sub['ear.appraisal-policy-id']), true);
  check('attester_type', sub.attester_type, 'TDX');
  check('attester_tcb_status', sub.attester_tcb_status, 'UpToDate');
  check('tdx_mrtd', sub.tdx_mrtd, td.MRTD.toLowerCase());
  for (let i = 0; i < 3; i++) check(`tdx_rtmr${i}`, sub[`tdx_rtmr${i}`], td[`RTMR${i}`].toLowerCase());
  check('tdx_report_data', sub.tdx_report_data, rd.toString('hex'));
  check('tdx_is_debuggable', sub.tdx_is_debuggable, false);
  check('iexec_task_id', sub.iexec_task_id, task);
  check('iexec_worker', sub.iexec_worker, worker.address.toLowerCase());
  check('iexec_app_digest', sub.iexec_app_digest, 'sha256:' + appDigest.toString('hex'));
  check('tdexec_quote_sha256', sub.tdexec_quote_sha256, crypto.createHash('sha256').update(quote).digest('hex'));

  // the receipt of the release keeps the token
  const rc = await (await fetch(`${url}/tasks/${task}/attestation`)).json();
  check('the receipt holds the token', rc.receipts && rc.receipts.length === 1 && rc.receipts[0].ear, token);
  check('the receipt names the enclave challenge the pool was given', rc.receipts[0].enclave_challenge,
    enclave.toLowerCase());

  // a tampered payload (the status made affirming), the signature kept
  const parts = token.split('.');
  const forged = JSON.parse(Buffer.from(parts[1], 'base64url'));
  forged.submods.tdx['ear.status'] = 'affirming';
  const tampered = [parts[0], Buffer.from(JSON.stringify(forged)).toString('base64url'), parts[2]].join('.');
  await refused('jose: tampered token', jose.jwtVerify(tampered, jose.createLocalJWKSet(jwks), { algorithms: ['ES256'] }));
  // another key under the same kid
  const other = await jose.generateKeyPair('ES256', { extractable: true });
  const wrongJwk = { ...(await jose.exportJWK(other.publicKey)), kid: jwk.kid, alg: 'ES256', use: 'sig' };
  const wrongSet = { keys: [wrongJwk] };
  await refused('jose: another key', jose.jwtVerify(token, jose.createLocalJWKSet(wrongSet), { algorithms: ['ES256'] }));

  // ECDSA's (r, s) also verifies as (r, n - s); tdexec signs and accepts
  // only s <= n/2 (docs/ear.md).  jose's signatures have either form: put
  // one in the form wanted (both verify with jose).
  const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const withS = (tok, high) => {
    const [h, p, sg] = tok.split('.');
    const raw = Buffer.from(sg, 'base64url');
    const sv = BigInt('0x' + raw.subarray(32).toString('hex'));
    if ((sv > N / 2n) !== high) raw.set(Buffer.from((N - sv).toString(16).padStart(64, '0'), 'hex'), 32);
    return [h, p, raw.toString('base64url')].join('.');
  };
  // the SMS's tokens are low-s
  check('the SMS signs with a low s', withS(token, false), token);

  // a token jose signs with the same claims: tdexec must take it with jose's key
  const joseJwk = { ...(await jose.exportJWK(other.publicKey)), alg: 'ES256', use: 'sig' };
  joseJwk.kid = await jose.calculateJwkThumbprint(joseJwk, 'sha256');
  const joseToken = withS(await new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', kid: joseJwk.kid, typ: 'eat+jwt' }).sign(other.privateKey), false);
  const joseHigh = withS(joseToken, true);
  await jose.jwtVerify(joseHigh, jose.createLocalJWKSet({ keys: [joseJwk] }), { algorithms: ['ES256'] });

  // the same key, claims that do not hold: another profile, issued in the future
  const joseSign = async (claims) => withS(await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: joseJwk.kid, typ: 'eat+jwt' }).sign(other.privateKey), false);
  fs.writeFileSync(`${outDir}/jose-profile`, await joseSign({ ...payload, eat_profile: 'tag:example.com,2024:other' }));
  fs.writeFileSync(`${outDir}/jose-future`, await joseSign({ ...payload, iat: t0 + 3600 }));

  fs.writeFileSync(`${outDir}/token`, token + '\n');
  fs.writeFileSync(`${outDir}/tampered`, tampered);
  fs.writeFileSync(`${outDir}/wrong-jwks.json`, JSON.stringify(wrongSet));
  fs.writeFileSync(`${outDir}/jose-token`, joseToken);
  fs.writeFileSync(`${outDir}/jose-high-s`, joseHigh);
  fs.writeFileSync(`${outDir}/jose-jwks.json`, JSON.stringify({ keys: [joseJwk] }));
  fs.writeFileSync(`${outDir}/jwks.json`, JSON.stringify(jwks));
  fs.writeFileSync(`${outDir}/task`, task);
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
})().catch((e) => { console.log(`FAIL: ${e.stack || e}`); process.exit(1); });
