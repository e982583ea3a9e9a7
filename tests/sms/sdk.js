// The iExec SDK (npm `iexec`, pinned) against our SMS: it computes the
// challenges, signs them and calls the SMS through its own code paths.
// Requester, app developer, dataset, storage-token and result-key secrets
// are pushed and found; owner mismatches are refused with the SDK's own
// error.  Usage: node sdk.js SMS_URL CHAIN_JSON APP DATASET
'use strict';
const fs = require('fs');

const [sms, chainFile, app, dataset] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));

let pass = 0, fail = 0;
function check(what, got, want) {
  if (got === want) pass++;
  else { fail++; console.log(`FAIL: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
}
async function refused(what, p, pattern) {
  try { await p; fail++; console.log(`FAIL: ${what}: accepted`); } catch (e) {
    check(`${what}: ${e.message}`, pattern.test(e.message), true);
  }
}
async function head(path) { return (await fetch(sms + path, { method: 'HEAD' })).status; }

(async () => {
  const { IExec, utils } = await import('iexec');
  const sdk = (i) => new IExec({ ethProvider: utils.getSignerFromPrivateKey(chain.rpc, chain.accounts[i].private_key) },
    { hubAddress: chain.hub, smsURL: sms, allowExperimentalNetworks: true });
  const requester = sdk(4), addr = chain.accounts[4].address;

  check('requester secret pushed', (await requester.secrets.pushRequesterSecret('sdk-token', 'v1')).isPushed, true);
  check('requester secret found by the SDK', await requester.secrets.checkRequesterSecretExists(addr, 'sdk-token'), true);
  check('requester secret absent', await requester.secrets.checkRequesterSecretExists(addr, 'nope'), false);
  await refused('requester secret pushed twice', requester.secrets.pushRequesterSecret('sdk-token', 'v2'), /already exists/);

  check('app secret pushed by the app owner', await sdk(1).app.pushAppSecret(app, 'sdk-dev'), true);
  check('app secret found by the SDK', await sdk(1).app.checkAppSecretExists(app), true);
  await refused('app secret pushed by another wallet', sdk(6).app.pushAppSecret(app, 'x'), /not allowed|401|already exists/);

  await refused('dataset key pushed by another wallet', sdk(6).dataset.pushDatasetSecret(dataset, 'k'), /not allowed/);
  check('dataset key pushed by the dataset owner', await sdk(2).dataset.pushDatasetSecret(dataset, 'k3y'), true);
  check('dataset key found by the SDK', await sdk(2).dataset.checkDatasetSecretExists(dataset), true);

  check('storage token pushed', (await requester.storage.pushStorageToken('tok', 'dropbox')).isPushed, true);
  check('storage token found', await requester.storage.checkStorageTokenExists(addr, 'dropbox'), true);
  check('storage token updated', (await requester.storage.pushStorageToken('tok2', 'dropbox', { forceUpdate: true })).isUpdated, true);
  const pem = '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----';
  check('result encryption key pushed', (await requester.result.pushResultEncryptionKey(pem)).isPushed, true);
  check('result encryption key found', await requester.result.checkResultEncryptionKeyExists(addr), true);
  // the same records, seen through our own paths
  check('as web2 secret', await head(`/secrets/web2?ownerAddress=${addr}&secretName=iexec-result-encryption-public-key`), 204);
  check('as requester secret', await head(`/requesters/${addr}/secrets/sdk-token`), 204);
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
