// Download TASKID's result as local account N, with an authorization of
// the given kind; prints the HTTP status.
//   honest   lib/proto's: keccak256("tdexec/result-download/v1" || chainId
//            || taskId || beneficiary || expiry), expiry = now + 5 min
//   legacy   the signature a hostile scheduler could get from a worker's
//            registration with nonce = taskId: EIP-191 over keccak256(taskId)
//   expired  the honest layout, expiry a minute ago
//   ahead    the honest layout, expiry two hours ahead
// Usage: node download.js CHAIN_JSON N SCHEDULER_URL TASKID KIND
'use strict';
const { ethers } = require('ethers');
const fs = require('fs');
const [chainFile, account, sched, taskid, kind] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
(async () => {
  const w = new ethers.Wallet(chain.accounts[Number(account)].private_key);
  const chainId = (await new ethers.JsonRpcProvider(chain.rpc).getNetwork()).chainId;
  const now = Math.floor(Date.now() / 1000);
  const expiry = kind === 'expired' ? now - 60 : kind === 'ahead' ? now + 7200 : now + 300;
  const digest = kind === 'legacy' ? ethers.keccak256(taskid)
    : ethers.keccak256(ethers.concat([ethers.toUtf8Bytes('tdexec/result-download/v1'),
      ethers.toBeHex(chainId, 32), taskid, w.address, ethers.toBeHex(expiry, 8)]));
  const sig = await w.signMessage(ethers.getBytes(digest));
  const r = await fetch(`${sched}/results/${taskid}?expires=${expiry}`,
    { headers: { Authorization: sig } });
  await r.arrayBuffer();
  console.log(`download=${r.status}`);
})().catch((e) => { console.error(e.message); process.exit(1); });
