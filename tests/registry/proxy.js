// A TCP proxy in front of a plain-HTTP registry that fails the way a
// registry or its network does in the middle of a big download.
// A connection that has asked for a path holding MATCH (all when none) and
// has carried more than CUT bytes towards the client is cut (what fits
// under CUT is sent, then the connection is closed), then:
//   die:  the proxy stops listening, as a registry that went away: every
//         later connection is refused;
//   once: later connections are forwarded whole, so a client that resumes
//         (a Range request from the bytes it holds) completes.
// Logs one line per event on stdout: each client request line with its
// Range header when it has one, and the cut.
// Usage: node proxy.js PORT_FILE UPSTREAM_PORT die|once CUT [MATCH]
'use strict';
const net = require('net');
const fs = require('fs');

const [portFile, upPort, mode, cutArg, match = ''] = process.argv.slice(2);
const CUT = Number(cutArg);
let cuts = 0;

const srv = net.createServer((c) => {
  const up = net.connect(Number(upPort), '127.0.0.1');
  let down = 0;
  let head = '';
  let marked = match === '';
  c.on('data', (d) => {
    // request heads are text; log each request line and its Range
    head = (head + d.toString('latin1')).slice(-8192);
    let i;
    while ((i = head.indexOf('\r\n\r\n')) >= 0) {
      const lines = head.slice(0, i).split('\r\n');
      const range = lines.find((l) => /^range:/i.test(l));
      console.log(`request="${lines[0]}"${range ? ` range="${range.slice(6).trim()}"` : ''}`);
      if (lines[0].includes(match)) marked = true;
      head = head.slice(i + 4);
    }
    up.write(d);
  });
  up.on('data', (d) => {
    if (down < 0) return;
    const cutting = marked && (mode === 'die' || cuts === 0) && down + d.length > CUT;
    if (!cutting) {
      down += d.length;
      c.write(d);
      return;
    }
    // what fits under CUT goes out, then the connection is gone
    c.end(d.subarray(0, CUT - down));
    down = -1;
    cuts++;
    console.log(`cut after=${CUT} cuts=${cuts}`);
    up.destroy();
    if (mode === 'die') srv.close();
  });
  c.on('error', () => up.destroy());
  up.on('error', () => c.destroy());
  c.on('close', () => up.destroy());
  up.on('close', () => c.end());
});
srv.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(srv.address().port)));
process.on('SIGTERM', () => process.exit(0));
