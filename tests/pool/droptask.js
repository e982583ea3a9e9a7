// A pass-through proxy to the scheduler that loses what a worker should
// have heard, as a scheduler killed at the wrong moment or a broken
// connection would.  MODE_FILE says what to lose, read at each request:
//   answer   the first answer handing each task (GET /workers/next, 200)
//            is dropped: the scheduler committed it, the worker's
//            connection is closed without a byte;
//   reports  every status report about a task is refused (502) until that
//            task has been handed out twice;
//   (else)   nothing.
// Each hand-out is logged to LOG_FILE: "handed|dropped TASKID", and each
// refused report "refused TASKID".
// Usage: node droptask.js TARGET_URL PORT_FILE MODE_FILE LOG_FILE
'use strict';
const http = require('http');
const fs = require('fs');
const [target, portFile, modeFile, logFile] = process.argv.slice(2);
const t = new URL(target);
const handed = new Map();

const mode = () => { try { return fs.readFileSync(modeFile, 'utf8').trim(); } catch (e) { return ''; } };
const log = (line) => fs.appendFileSync(logFile, line + '\n');

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    const report = path.match(/^\/workers\/tasks\/(0x[0-9a-fA-F]{64})\/status$/);
    if (report && mode() === 'reports' && (handed.get(report[1].toLowerCase()) || 0) < 2) {
      log('refused ' + report[1].toLowerCase());
      res.writeHead(502);
      return res.end();
    }
    const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method,
      headers: req.headers }, (r) => {
      const body = [];
      r.on('data', (c) => body.push(c));
      r.on('end', () => {
        const b = Buffer.concat(body);
        if (path === '/workers/next' && r.statusCode === 200) {
          const id = JSON.parse(b).taskId.toLowerCase();
          const n = (handed.get(id) || 0) + 1;
          handed.set(id, n);
          if (n === 1 && mode() === 'answer') {
            log('dropped ' + id);
            return req.socket.destroy();
          }
          log('handed ' + id);
        }
        res.writeHead(r.statusCode, r.headers);
        res.end(b);
      });
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    up.end(Buffer.concat(chunks));
  });
}).listen(0, '127.0.0.1', function () { fs.writeFileSync(portFile, String(this.address().port)); });
