// Requests to a scheduler's admin endpoints signed as docs/scheduler-api.md
// says, made independently of tdexec's C code: EIP-191 over
// keccak256("tdexec/pool-admin/v1" || chainId || workerpool ||
// keccak256("GET " || path) || time), header "PoolOwner <time> <signature>".
// Runs the cases below and prints "<case> <status> <reason>" for each.
// Usage: node admin-sign.js CHAIN_JSON SCHEDULER_URL WORKERPOOL OWNER_ACCOUNT OTHER_ACCOUNT
'use strict';
const { ethers } = require('ethers');
const fs = require('fs');
const [chainFile, sched, pool, ownerN, otherN] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const key = (n) => new ethers.Wallet(chain.accounts[Number(n)].private_key);
(async () => {
  const chainId = (await new ethers.JsonRpcProvider(chain.rpc).getNetwork()).chainId;
  const sign = async (wallet, path, skew) => {
    const at = Math.floor(Date.now() / 1000) + skew;
    const digest = ethers.keccak256(ethers.concat([ethers.toUtf8Bytes('tdexec/pool-admin/v1'),
      ethers.toBeHex(chainId, 32), pool, ethers.keccak256(ethers.toUtf8Bytes('GET ' + path)),
      ethers.toBeHex(at, 8)]));
    return `PoolOwner ${at} ${await wallet.signMessage(ethers.getBytes(digest))}`;
  };
  const send = async (name, url, auth) => {
    const r = await fetch(`${sched}${url}`, { headers: { Authorization: auth } });
    const j = await r.json();
    console.log(`${name} ${r.status} ${j.reason || ''}`);
  };
  const owner = key(ownerN), other = key(otherN);
  const once = await sign(owner, '/workers', 0);
  await send('owner', '/workers', once);
  await send('replay', '/workers', once);
  // the same signature with v written as a recovery id (27 -> 0, 28 -> 1)
  const v = parseInt(once.slice(-2), 16);
  await send('replay-v', '/workers', once.slice(0, -2) + (v - 27).toString(16).padStart(2, '0'));
  await send('listing', '/tasks?status=FAILED', await sign(owner, '/tasks', 0));
  await send('old', '/stats', await sign(owner, '/stats', -400));
  await send('ahead', '/stats', await sign(owner, '/stats', 400));
  await send('other-key', '/stats', await sign(other, '/stats', 0));
  await send('other-path', '/stats', await sign(owner, '/workers', 0));
})().catch((e) => { console.error(e.message); process.exit(1); });
