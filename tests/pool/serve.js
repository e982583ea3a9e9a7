// A static file server on loopback for datasets and input files (what a
// requester or dataset owner would host anywhere).  Writes its port.
// Usage: node serve.js DIR PORT_FILE
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const [dir, portFile] = process.argv.slice(2);
const srv = http.createServer((req, res) => {
  const p = path.join(dir, path.normalize(decodeURIComponent(req.url.split('?')[0])).replace(/^(\.\.[/\\])+/, ''));
  // NAME.first, when present, answers the first download of NAME (once):
  // the test of replicates that disagree
  if (fs.existsSync(p + '.first')) {
    const d = fs.readFileSync(p + '.first');
    fs.unlinkSync(p + '.first');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    res.end(d);
    return;
  }
  fs.readFile(p, (err, data) => {
    if (err) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    res.end(data);
  });
});
srv.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(srv.address().port)));
process.on('SIGTERM', () => srv.close(() => process.exit(0)));
