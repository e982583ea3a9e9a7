// A pass-through proxy to the SMS that holds the first attestation: once a
// worker has its nonce and sends its quote, the request waits here until
// RELEASE_FILE exists (the test restarts the SMS meanwhile), then goes on.
// Usage: node hold.js TARGET_URL PORT_FILE HELD_FILE RELEASE_FILE
'use strict';
const http = require('http');
const fs = require('fs');
const [target, portFile, heldFile, releaseFile] = process.argv.slice(2);
const t = new URL(target);
let holding = true;

function forward(req, res, body) {
  const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method,
    headers: req.headers }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  up.on('error', () => { res.writeHead(502); res.end(); });
  up.end(body);
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (!(holding && req.url.split('?')[0].endsWith('/attest'))) return forward(req, res, body);
    holding = false;
    fs.writeFileSync(heldFile, req.url);
    const wait = setInterval(() => {
      if (fs.existsSync(releaseFile)) { clearInterval(wait); forward(req, res, body); }
    }, 50);
  });
}).listen(0, '127.0.0.1', function () { fs.writeFileSync(portFile, String(this.address().port)); });
