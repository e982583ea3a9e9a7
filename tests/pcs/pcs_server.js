// A PCS-compatible HTTP server on 127.0.0.1 for tests: it serves the
// collateral of a simulated TD (tdexec sim init DIR) at the PCS v4 paths,
// with the issuer chains URL-encoded in the headers as Intel's PCS sends
// them.  Prints "port N" when listening; GET /stats returns the request
// count.  Stops when stdin closes, or after 300 s whatever happens.
// Usage: node pcs_server.js SIM_DIR
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const dir = path.join(process.argv[2], 'collateral');
const read = (f) => fs.readFileSync(path.join(dir, f));
const chain = (f) => encodeURIComponent(read(f).toString('utf8'));
let requests = 0;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/stats') {
    res.end(String(requests));
    return;
  }
  requests++;
  const send = (body, headers) => { res.writeHead(200, headers); res.end(body); };
  if (url.pathname === '/tdx/certification/v4/tcb') {
    if (url.searchParams.get('fmspc') !== '53494D000000') { res.writeHead(404); res.end(); return; }
    send(read('tcb_info.json'), { 'TCB-Info-Issuer-Chain': chain('tcb_info_issuer_chain.pem') });
  } else if (url.pathname === '/tdx/certification/v4/qe/identity') {
    send(read('qe_identity.json'), { 'SGX-Enclave-Identity-Issuer-Chain': chain('qe_identity_issuer_chain.pem') });
  } else if (url.pathname === '/sgx/certification/v4/pckcrl' && url.searchParams.get('ca') === 'platform') {
    send(read('pck_crl.der'), { 'SGX-PCK-CRL-Issuer-Chain': chain('pck_crl_issuer_chain.pem') });
  } else if (url.pathname === '/sgx/certification/v4/rootcacrl') {
    send(read('root_ca_crl.der').toString('hex'), {}); // a PCCS answers in hex
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), 300000).unref();
