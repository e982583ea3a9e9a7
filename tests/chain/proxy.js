// A TCP proxy in front of a JSON-RPC node, for tests that take the
// endpoint away: node proxy.js TARGET_PORT PORT_FILE [PORT]
// Listens on 127.0.0.1 (PORT, or any free port, written to PORT_FILE) and
// forwards every connection to 127.0.0.1:TARGET_PORT.  Killing it is the
// endpoint going down; starting it again on the same PORT brings it back.
'use strict';
const net = require('net');
const fs = require('fs');

const [target, portFile, port] = process.argv.slice(2);
if (!target || !portFile) {
	console.error('usage: proxy.js TARGET_PORT PORT_FILE [PORT]');
	process.exit(2);
}
const server = net.createServer((c) => {
	const up = net.connect(Number(target), '127.0.0.1');
	c.pipe(up);
	up.pipe(c);
	c.on('error', () => up.destroy());
	up.on('error', () => c.destroy());
});
server.listen(Number(port || 0), '127.0.0.1', () => {
	fs.writeFileSync(portFile, String(server.address().port));
});
