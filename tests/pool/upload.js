// Upload FILE as the result of TASKID, signed as a worker signs it
// (EIP-191 over keccak256(taskid || sha256(FILE))) by local account N.
// Usage: node upload.js CHAIN_JSON N SCHEDULER_URL TASKID FILE
//        -> prints the HTTP status and the reply
'use strict';
const { ethers } = require('ethers');
const fs = require('fs');
const [chainFile, account, sched, taskid, file] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const body = fs.readFileSync(file);
(async () => {
  const w = new ethers.Wallet(chain.accounts[Number(account)].private_key);
  const h = ethers.keccak256(ethers.concat([taskid, ethers.sha256(body)]));
  const sig = await w.signMessage(ethers.getBytes(h));
  const r = await fetch(`${sched}/results/${taskid}`, {
    method: 'POST',
    headers: { Authorization: sig, 'Content-Type': 'application/zip' },
    body,
  });
  console.log(r.status, await r.text());
})().catch((e) => { console.error(e.message); process.exit(1); });
