// Crash safety of the SMS store, the client side.
//   push URL ACKS  — push web2 secrets from 4 concurrent loops until the SMS
//                    goes away; each name is appended to ACKS only after its
//                    204 arrived (the first line is the owner's address).
//   check URL ACKS — every acknowledged secret exists after the restart.
//   bad URL        — raw malformed requests get a 4xx (or a closed
//                    connection), never a crash: the SMS still answers.
'use strict';
const fs = require('fs');
const ethers = require('ethers');

const [phase, url, acks] = process.argv.slice(2);
const DOMAIN = ethers.keccak256(ethers.toUtf8Bytes('IEXEC_SMS_DOMAIN'));
const k = (s) => ethers.keccak256(ethers.toUtf8Bytes(s));
const path = (a, n) => `${url}/secrets/web2?ownerAddress=${a}&secretName=${n}`;

async function push() {
  const w = ethers.Wallet.createRandom();
  fs.writeFileSync(acks, w.address + '\n');
  let next = 0, acked = 0;
  const loop = async (id) => {
    for (;;) {
      const name = `s-${id}-${next++}`, value = `value of ${name} `.repeat(8);
      const h = ethers.keccak256(ethers.solidityPacked(['bytes32', 'address', 'bytes32', 'bytes32'],
        [DOMAIN, w.address, k(name), k(value)]));
      let r;
      try {
        r = await fetch(path(w.address, name), { method: 'POST', body: value,
          headers: { Authorization: w.signMessageSync(ethers.getBytes(h)) } });
      } catch (e) { return; } // the SMS is gone
      if (r.status !== 204) { console.log(`FAIL: push ${name}: ${r.status}`); process.exit(1); }
      fs.appendFileSync(acks, name + '\n');
      acked++;
    }
  };
  await Promise.all([0, 1, 2, 3].map(loop));
  console.log(`${acked} acknowledged`);
}

async function check() {
  const [owner, ...names] = fs.readFileSync(acks, 'utf8').trim().split('\n');
  let missing = 0;
  for (const n of names) {
    const r = await fetch(path(owner, n), { method: 'HEAD' });
    if (r.status !== 204) { missing++; console.log(`FAIL: acknowledged ${n} is ${r.status}`); }
  }
  console.log(`${names.length} acknowledged, ${missing} missing`);
  process.exit(missing || names.length < 20 ? 1 : 0);
}

// One raw request over a fresh connection; resolves to the status code, or
// 0 when the server closed the connection without answering.
function raw(bytes) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = require('net').connect(Number(u.port), u.hostname);
    let got = '';
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve(m ? Number(m[1]) : 0);
    });
    sock.end(bytes);
  });
}

async function bad() {
  const a = '0x' + '11'.repeat(20);
  const post = (path, hdrs, body) => raw(`POST ${path} HTTP/1.1\r\nHost: x\r\n${hdrs}` +
    `Connection: close\r\n\r\n${body}`);
  const cases = [
    ['oversized body', post(`/secrets/web2?ownerAddress=${a}&secretName=x`,
      'Content-Length: 1048576\r\n', 'x'.repeat(1 << 20)), [413]],
    ['oversized chunked body', post(`/secrets/web2?ownerAddress=${a}&secretName=x`,
      'Transfer-Encoding: chunked\r\n', ('1000\r\n' + 'y'.repeat(4096) + '\r\n').repeat(64) + '0\r\n\r\n'), [413]],
    ['malformed address', post('/secrets/web2?ownerAddress=0xzz&secretName=x', 'Content-Length: 1\r\n', 'v'), [400]],
    ['JSON content type, no signature', post(`/secrets/web2?ownerAddress=${a}&secretName=x`,
      'Content-Type: application/json\r\nContent-Length: 5\r\n', '{"a":'), [401]],
    ['bad signature encoding', post(`/secrets/web2?ownerAddress=${a}&secretName=x`,
      'Authorization: 0xnot-hex\r\nContent-Length: 1\r\n', 'v'), [401]],
    ['header flood', post('/healthz', 'X-Flood: ' + 'z'.repeat(100) + '\r\n'.repeat(1) +
      Array.from({ length: 2000 }, (_, i) => `X-F${i}: ${'z'.repeat(60)}\r\n`).join(''), ''), [400, 413, 431, 0]],
    ['huge request line', raw(`GET /${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`), [400, 414, 431, 0]],
    ['binary garbage', raw(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 255))), [400, 0]],
    ['short body', post(`/secrets/web2?ownerAddress=${a}&secretName=x`, 'Content-Length: 100\r\n', 'only ten b'), [0, 400, 401]],
    ['unknown path', raw('GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), [404]],
  ];
  let fail = 0;
  for (const [what, p, want] of cases) {
    const got = await p;
    if (process.env.VERBOSE) console.log(what, got);
    if (!want.includes(got)) { fail++; console.log(`FAIL: ${what}: got ${got}, want ${want}`); }
  }
  const h = await fetch(url + '/healthz');
  if (h.status !== 200) { fail++; console.log('FAIL: the SMS stopped answering'); }
  console.log(`${cases.length + 1 - fail} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
}

({ push, check, bad })[phase]().catch((e) => { console.error(e); process.exit(1); });
