// The SMS secrets API over real HTTP, with challenges and EIP-191 signatures
// computed independently by ethers v6: web2 (POST, PUT, HEAD), web3 (dataset
// owner from the chain), app developer secret (app owner from the chain) and
// requester secrets; bad signatures, wrong owners, oversized values, bad keys
// and malformed requests are refused with iExec's status codes; a signature
// replayed (as an update to an old value, under another kind, twice) is
// refused with 403, an identical re-push still answers 204.
// Usage: node secrets.js SMS_URL CHAIN_JSON DATASET APP PHASE(push|check)
'use strict';
const fs = require('fs');
const ethers = require('ethers');

const [url, chainFile, dataset, app, phase] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const wallet = (i) => new ethers.Wallet(chain.accounts[i].private_key);
const DOMAIN = ethers.keccak256(ethers.toUtf8Bytes('IEXEC_SMS_DOMAIN'));
const k = (s) => ethers.keccak256(ethers.toUtf8Bytes(s));
const challenge = (addr, name, value) => ethers.keccak256(name === null
  ? ethers.solidityPacked(['bytes32', 'address', 'bytes32'], [DOMAIN, addr, k(value)])
  : ethers.solidityPacked(['bytes32', 'address', 'bytes32', 'bytes32'], [DOMAIN, addr, k(name), k(value)]));
const sign = (w, h) => w.signMessageSync(ethers.getBytes(h));

let pass = 0, fail = 0;
function check(what, got, want) {
  if (got === want) pass++;
  else { fail++; console.log(`FAIL: ${what}: got ${got}, want ${want}`); }
}
async function req(method, path, body, auth) {
  const r = await fetch(url + path, { method, body, headers: auth ? { Authorization: auth, 'Content-Type': 'text/plain' } : { 'Content-Type': 'text/plain' } });
  await r.text();
  return r.status;
}

(async () => {
  const owner = wallet(5), other = wallet(6), dsOwner = wallet(2), appOwner = wallet(1), requester = wallet(4);
  const web2 = (a, n) => `/secrets/web2?ownerAddress=${a}&secretName=${encodeURIComponent(n)}`;
  if (phase === 'push') {
    // web2: create, conflict, update, bad signature, oversized
    const v = 'my api key';
    check('web2 HEAD before', await req('HEAD', web2(owner.address, 'api-key')), 404);
    check('web2 POST', await req('POST', web2(owner.address, 'api-key'), v, sign(owner, challenge(owner.address, 'api-key', v))), 204);
    check('web2 HEAD after', await req('HEAD', web2(owner.address, 'api-key')), 204);
    check('web2 POST again (immutable)', await req('POST', web2(owner.address, 'api-key'), v, sign(owner, challenge(owner.address, 'api-key', v))), 409);
    check('web2 POST signed by another', await req('POST', web2(owner.address, 'other'), v, sign(other, challenge(owner.address, 'other', v))), 401);
    check('web2 POST without signature', await req('POST', web2(owner.address, 'other'), v), 401);
    check('web2 POST challenge of another value', await req('POST', web2(owner.address, 'other'), 'x', sign(owner, challenge(owner.address, 'other', 'y'))), 401);
    check('web2 PUT', await req('PUT', web2(owner.address, 'api-key'), 'v2', sign(owner, challenge(owner.address, 'api-key', 'v2'))), 204);
    check('web2 PUT missing', await req('PUT', web2(owner.address, 'nope'), 'v2', sign(owner, challenge(owner.address, 'nope', 'v2'))), 404);
    const big = 'x'.repeat(4097);
    check('web2 POST 4097 bytes', await req('POST', web2(owner.address, 'big'), big, sign(owner, challenge(owner.address, 'big', big))), 413);
    const max = 'y'.repeat(4096);
    check('web2 POST 4096 bytes', await req('POST', web2(owner.address, 'max'), max, sign(owner, challenge(owner.address, 'max', max))), 204);
    check('web2 reserved name', await req('POST', web2(owner.address, 'iexec-result-encryption-public-key'), 'PEM', sign(owner, challenge(owner.address, 'iexec-result-encryption-public-key', 'PEM'))), 204);
    check('web2 without ownerAddress', await req('POST', '/secrets/web2?secretName=x', 'v'), 400);
    // web3: the dataset key, signed by the dataset's on-chain owner
    const key = 'Cy8ZfW1X3wFMk5ynXq4XMsdjL1E1lBmRHQXwA3t8D4A=';
    check('web3 HEAD before', await req('HEAD', `/secrets/web3?secretAddress=${dataset}`), 404);
    check('web3 POST by a non-owner', await req('POST', `/secrets/web3?secretAddress=${dataset}`, key, sign(other, challenge(dataset, null, key))), 401);
    check('web3 POST by the owner', await req('POST', `/secrets/web3?secretAddress=${dataset}`, key, sign(dsOwner, challenge(dataset, null, key))), 204);
    check('web3 POST again', await req('POST', `/secrets/web3?secretAddress=${dataset}`, key, sign(dsOwner, challenge(dataset, null, key))), 409);
    check('web3 HEAD after', await req('HEAD', `/secrets/web3?secretAddress=${dataset}`), 204);
    // app developer secret, signed by the app's on-chain owner
    check('app POST by a non-owner', await req('POST', `/apps/${app}/secrets`, 'dev', sign(other, challenge(app, '1', 'dev'))), 401);
    check('app POST by the owner', await req('POST', `/apps/${app}/secrets`, 'dev', sign(appOwner, challenge(app, '1', 'dev'))), 204);
    check('app HEAD', await req('HEAD', `/apps/${app}/secrets`), 204);
    // requester secrets
    const rq = (key2) => `/requesters/${requester.address}/secrets/${key2}`;
    check('requester POST', await req('POST', rq('token-1'), 't', sign(requester, challenge(requester.address, 'token-1', 't'))), 204);
    check('requester HEAD', await req('HEAD', rq('token-1')), 204);
    check('requester bad key', await req('POST', rq('bad%20key'), 't', sign(requester, challenge(requester.address, 'bad key', 't'))), 400);
    check('requester key too long', await req('POST', rq('k'.repeat(65)), 't', sign(requester, challenge(requester.address, 'k'.repeat(65), 't'))), 400);
    // Replays: iExec's challenge signs (address, name, value) only, so each
    // signature authorizes one write.  The POST's signature replayed as a PUT
    // after an update would restore the old value: refused (and the task
    // session carries the new one: attest.js), twice, in its v = 0|1 form too.
    const tokName = 'iexec-result-iexec-ipfs-token', tok = web2(requester.address, tokName);
    const oldSig = sign(requester, challenge(requester.address, tokName, 'ipfs-old'));
    const newSig = sign(requester, challenge(requester.address, tokName, 'ipfs-new'));
    check('replay: POST', await req('POST', tok, 'ipfs-old', oldSig), 204);
    check('replay: PUT of a new value', await req('PUT', tok, 'ipfs-new', newSig), 204);
    check('replay: the POST signature as a PUT (rollback)', await req('PUT', tok, 'ipfs-old', oldSig), 403);
    check('replay: the same signature again', await req('PUT', tok, 'ipfs-old', oldSig), 403);
    const lowV = oldSig.slice(0, -2) + (parseInt(oldSig.slice(-2), 16) - 27).toString(16).padStart(2, '0');
    check('replay: the same signature with v as 0|1', await req('PUT', tok, 'ipfs-old', lowV), 403);
    check('replay: identical re-push answers as before', await req('PUT', tok, 'ipfs-new', newSig), 204);
    // A web2 signature never authorizes a requester secret (same challenge bytes).
    const shared = sign(requester, challenge(requester.address, 'shared-name', 'w'));
    check('replay: web2 POST', await req('POST', web2(requester.address, 'shared-name'), 'w', shared), 204);
    check('replay: the web2 signature as a requester secret', await req('POST', rq('shared-name'), 'w', shared), 403);
    check('replay: no requester secret made', await req('HEAD', rq('shared-name')), 404);
    // no value is ever returned
    check('GET web2 is not served', await req('GET', web2(owner.address, 'api-key')), 405);
    check('framework', await (await fetch(url + '/tee/framework')).text(), 'TDX');
    check('properties', (await fetch(url + '/tee/properties/TDX/v1')).status, 200);
    check('properties of another framework', (await fetch(url + '/tee/properties/SCONE/v5')).status, 404);
  } else {
    // after a restart: everything acknowledged is there
    check('web2 kept', await req('HEAD', web2(owner.address, 'api-key')), 204);
    check('web2 max kept', await req('HEAD', web2(owner.address, 'max')), 204);
    check('web2 refused not kept', await req('HEAD', web2(owner.address, 'other')), 404);
    check('web3 kept', await req('HEAD', `/secrets/web3?secretAddress=${dataset}`), 204);
    check('app kept', await req('HEAD', `/apps/${app}/secrets`), 204);
    check('requester kept', await req('HEAD', `/requesters/${requester.address}/secrets/token-1`), 204);
    // consumed signatures are kept too
    const tokName = 'iexec-result-iexec-ipfs-token', tok = web2(requester.address, tokName);
    check('replay refused after a restart', await req('PUT', tok, 'ipfs-old', sign(requester, challenge(requester.address, tokName, 'ipfs-old'))), 403);
    check('identical re-push after a restart', await req('PUT', tok, 'ipfs-new', sign(requester, challenge(requester.address, tokName, 'ipfs-new'))), 204);
    check('web2 signature as a requester secret after a restart', await req('POST', `/requesters/${requester.address}/secrets/shared-name`,
      'w', sign(requester, challenge(requester.address, 'shared-name', 'w'))), 403);
  }
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
