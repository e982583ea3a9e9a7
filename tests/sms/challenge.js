// Enclave challenges (POST /tee/challenges/{taskId}) and task sessions
// (POST /tee/sessions) against the real chain:
// the workerpool owner's EIP-191 signature of keccak(taskId) computed by
// ethers; Boost tasks named by dealId and taskIndex; one stable address per
// task, kept across a restart; refusals with their status codes.
// Usage: node challenge.js SMS_URL CHAIN_JSON TDX_DEAL PLAIN_DEAL OUT_FILE PHASE(first|again)
'use strict';
const fs = require('fs');
const ethers = require('ethers');

const [url, chainFile, tdxDeal, plainDeal, outFile, phase] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const wallet = (i) => new ethers.Wallet(chain.accounts[i].private_key);
const taskOf = (deal, i) => ethers.solidityPackedKeccak256(['bytes32', 'uint256'], [deal, i]);
const auth = (w, task) => w.signMessageSync(ethers.getBytes(ethers.keccak256(task)));

let pass = 0, fail = 0;
function check(what, got, want) {
  if (got === want) pass++;
  else { fail++; console.log(`FAIL: ${what}: got ${got}, want ${want}`); }
}
async function post(task, query, signature) {
  const r = await fetch(`${url}/tee/challenges/${task}${query}`, { method: 'POST',
    headers: signature ? { Authorization: signature } : {} });
  return [r.status, await r.text()];
}

(async () => {
  const pool = wallet(3), other = wallet(6);
  const t0 = taskOf(tdxDeal, 0), q0 = `?dealId=${tdxDeal}&taskIndex=0`;
  let [st, addr] = await post(t0, q0, auth(pool, t0));
  check('challenge created', st, 200);
  check('challenge is an address', ethers.isAddress(addr), true);
  if (phase === 'first') {
    fs.writeFileSync(outFile, addr);
    check('same challenge again', (await post(t0, q0, auth(pool, t0)))[1], addr);
    check('signed by another', (await post(t0, q0, auth(other, t0)))[0], 401);
    check('signature of another task', (await post(t0, q0, auth(pool, taskOf(tdxDeal, 1))))[0], 401);
    check('no signature', (await post(t0, q0))[0], 401);
    const t1 = taskOf(tdxDeal, 1);
    check('index beyond the deal', (await post(t1, `?dealId=${tdxDeal}&taskIndex=1`, auth(pool, t1)))[0], 404);
    check('index not matching the task id', (await post(t0, `?dealId=${tdxDeal}&taskIndex=1`, auth(pool, t0)))[0], 400);
    check('dealId without taskIndex', (await post(t0, `?dealId=${tdxDeal}`, auth(pool, t0)))[0], 400);
    const p0 = taskOf(plainDeal, 0);
    check('a task without the TDX tag', (await post(p0, `?dealId=${plainDeal}&taskIndex=0`, auth(pool, p0)))[0], 403);
    check('a Boost task looked up as a classic task (no task object)', (await post(t0, '', auth(pool, t0)))[0], 404);
    check('malformed task id', (await post('0x1234', '', auth(pool, t0)))[0], 400);
    // Task sessions: the WorkerpoolAuthorization signed by the pool owner,
    // the request signed by the worker, the enclave challenge of the task.
    const worker = wallet(7);
    const session = async (o) => {
      const enclave = o.enclave || addr, task = o.task || t0;
      const h = ethers.solidityPackedKeccak256(['address', 'bytes32', 'address'], [worker.address, task, enclave]);
      const poolSig = (o.poolSigner || pool).signMessageSync(ethers.getBytes(h));
      const body = o.body !== undefined ? o.body : JSON.stringify({ workerWallet: worker.address, chainTaskId: task,
        enclaveChallenge: enclave, signature: o.plainSig ? poolSig : { value: poolSig } });
      const r = await fetch(`${url}/tee/sessions${o.query !== undefined ? o.query : q0}`, { method: 'POST', body,
        headers: { 'Content-Type': 'application/json', Authorization: (o.workerSigner || worker).signMessageSync(ethers.getBytes(h)) } });
      const text = await r.text();
      return [r.status, r.status === 200 ? JSON.parse(text) : text];
    };
    const [s1, b1] = await session({});
    check('session created', s1, 200);
    check('session id', /^[0-9a-f]{32}$/.test(b1.sessionId), true);
    check('provisioning url', b1.secretProvisioningUrl, `${url}/tdx/sessions/${b1.sessionId}`);
    const [s2, b2] = await session({ plainSig: true });
    check('session with a plain signature', s2, 200);
    // one open session per worker and task: asking again gives it again
    check('the open session is given again', b2.sessionId, b1.sessionId);
    check('authorization not signed by the pool owner', (await session({ poolSigner: other }))[0], 401);
    check('request not signed by the worker', (await session({ workerSigner: other }))[0], 401);
    check('another enclave challenge', (await session({ enclave: ethers.Wallet.createRandom().address }))[0], 403);
    check('malformed body', (await session({ body: '{"workerWallet":' }))[0], 400);
    check('body without fields', (await session({ body: '{}' }))[0], 400);
    check('session for a task without the TDX tag', (await session({ task: taskOf(plainDeal, 0), query: `?dealId=${plainDeal}&taskIndex=0` }))[0], 403);
    check('session for an index beyond the deal', (await session({ task: t1, query: `?dealId=${tdxDeal}&taskIndex=1` }))[0], 404);
    const unknown = ethers.keccak256('0x01');
    check('unknown deal', (await post(taskOf(unknown, 0), `?dealId=${unknown}&taskIndex=0`, auth(pool, taskOf(unknown, 0))))[0], 404);
  } else {
    check('challenge kept across a restart', addr, fs.readFileSync(outFile, 'utf8'));
  }
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
