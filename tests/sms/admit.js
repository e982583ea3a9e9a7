// One attested release of a task session to a simulated TD: a session for
// task 0 of DEAL (authorized by the pool, account 3, for worker 7), a nonce,
// and a quote binding it; prints the status and exits 0 when it is WANT.
// Usage: node admit.js SMS_URL CHAIN_JSON DEAL TDEXEC SIM_DIR WANT
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const ethers = require('ethers');

const [url, chainFile, deal, tdexec, simDir, want] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const wallet = (i) => new ethers.Wallet(chain.accounts[i].private_key);
const task = ethers.solidityPackedKeccak256(['bytes32', 'uint256'], [deal, 0]);
const q0 = `?dealId=${deal}&taskIndex=0`;
const appDigest = crypto.createHash('sha256').update('app').digest();

async function post(path, body, headers = {}) {
  const r = await fetch(url + path, { method: 'POST', body: body && JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers } });
  return [r.status, await r.text()];
}

(async () => {
  const pool = wallet(3), worker = wallet(7);
  const enclave = await (await fetch(`${url}/tee/challenges/${task}${q0}`, { method: 'POST',
    headers: { Authorization: pool.signMessageSync(ethers.getBytes(ethers.keccak256(task))) } })).text();
  const h = ethers.solidityPackedKeccak256(['address', 'bytes32', 'address'], [worker.address, task, enclave]);
  let [st, b] = await post(`/tee/sessions${q0}`, { workerWallet: worker.address, chainTaskId: task,
    enclaveChallenge: enclave, signature: pool.signMessageSync(ethers.getBytes(h)) },
  { Authorization: worker.signMessageSync(ethers.getBytes(h)) });
  if (st !== 200) throw new Error(`session: ${st} ${b}`);
  const id = JSON.parse(b).sessionId;
  [st, b] = await post(`/tdx/sessions/${id}/challenge`);
  if (st !== 200) throw new Error(`nonce: ${st} ${b}`);
  const nonce = Buffer.from(JSON.parse(b).nonce, 'hex');
  const { publicKey } = crypto.generateKeyPairSync('x25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const rd = crypto.createHash('sha512').update(Buffer.concat([Buffer.from('tdexec-session-v1'),
    nonce, ethers.getBytes(task), appDigest, pub])).digest();
  const q = execFileSync(tdexec, ['quote', 'get', '--provider', 'sim', '--sim-dir', simDir,
    '--report-data', rd.toString('hex'), '-o', '-']);
  [st, b] = await post(`/tdx/sessions/${id}/attest`, { quote: q.toString('base64'),
    publicKey: pub.toString('hex'), appDigest: appDigest.toString('hex') });
  console.log(`attest ${st}`);
  process.exit(String(st) === want ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(2); });
