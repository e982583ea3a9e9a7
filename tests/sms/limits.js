// The attacks of tests/sms/limits.sh, from loopback, each bounded in count
// and time.  Prints one line of figures per command.
//   node limits.js bodies HOST PORT PATH N MIB         N unfinished POSTs announcing MIB MiB
//   node limits.js slow HOST PORT N IPS SECONDS        N slow header senders from IPS
//                                                      loopback addresses, /healthz probed
//   node limits.js flood URL N                         N POST URL, answers counted
//   node limits.js register SCHED_URL TDEXEC SIMDIR [NONCE_FILE]
//       a worker's registration (challenge, signature, quote); with NONCE_FILE
//       absent it is written, present it is reused (a replay across restarts)
'use strict';
const net = require('net');
const fs = require('fs');
const { execFileSync } = require('child_process');
const ethers = require('ethers');

const [cmd, ...a] = process.argv.slice(2);

function healthz(host, port) {
	return new Promise((resolve) => {
		const t0 = process.hrtime.bigint();
		const s = net.connect({ host, port, localAddress: '127.0.0.1' });
		let got = '';
		const done = (ok) => { s.destroy(); resolve({ ok, ms: Number(process.hrtime.bigint() - t0) / 1e6 }); };
		s.setTimeout(5000, () => done(false));
		s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
		s.on('data', (d) => { got += d; if (got.includes('\r\n\r\nok')) done(got.startsWith('HTTP/1.1 200')); });
		s.on('error', () => done(false));
		s.on('end', () => done(got.startsWith('HTTP/1.1 200')));
	});
}

async function bodies(host, port, path, n, mib) {
	const len = mib * 1024 * 1024, chunk = Buffer.alloc(1 << 20, 0x61);
	const res = await Promise.all([...Array(n)].map(() => new Promise((resolve) => {
		const s = net.connect({ host, port });
		let sent = 0, got = '';
		const finish = () => { s.destroy(); resolve({ status: got.slice(9, 12) || 'closed', sent }); };
		s.setTimeout(10000, finish);
		s.on('connect', () => {
			s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n`);
			// all but the last MiB, never the end; after 200 ms, so that an
			// answer to the headers is read before the body makes the
			// closing server reset the connection
			const pump = () => {
				while (sent < len - (1 << 20)) {
					sent += chunk.length;
					if (!s.write(chunk)) return s.once('drain', pump);
				}
			};
			setTimeout(pump, 200);
		});
		s.on('data', (d) => { got += d; });
		s.on('error', finish);
		s.on('close', finish);
		setTimeout(finish, 3000); // hold them 3 s, then report
	})));
	const statuses = res.map((r) => r.status).join(',');
	const mb = res.reduce((x, r) => x + r.sent, 0) / 1048576;
	console.log(`bodies=${n} statuses=${statuses} client_sent_mib=${mb.toFixed(0)}`);
}

async function slow(host, port, n, ips, seconds) {
	const socks = [];
	let open = 0, refused = 0, dropped = 0;
	for (let i = 0; i < n; i++) {
		const s = net.connect({ host, port, localAddress: `127.0.1.${1 + (i % ips)}` });
		s.on('connect', () => { open++; s.write('GET /healthz HTTP/1.1\r\n'); });
		s.on('error', () => {});
		s.on('close', () => { if (s.connected_once) dropped++; else refused++; });
		s.once('connect', () => { s.connected_once = true; });
		socks.push(s);
	}
	const tick = setInterval(() => { for (const s of socks) if (!s.destroyed) s.write('X'); }, 1000);
	const t0 = Date.now();
	let worst = 0, probes = 0, failed = 0;
	await new Promise((r) => setTimeout(r, 1000));
	while (Date.now() - t0 < seconds * 1000) {
		const h = await healthz(host, port);
		probes++;
		if (!h.ok) failed++;
		worst = Math.max(worst, h.ms);
		await new Promise((r) => setTimeout(r, 250));
	}
	const alive = socks.filter((s) => !s.destroyed && s.connected_once).length;
	clearInterval(tick);
	for (const s of socks) s.destroy();
	console.log(`slow=${n} opened=${open} alive_at_end=${alive} probes=${probes} failed=${failed} worst_ms=${worst.toFixed(1)}`);
}

async function flood(url, n) {
	const counts = {};
	// 16 at a time: the client's kept-alive connections stay under the
	// per-address limit
	for (let i = 0; i < n; i += 16) {
		const batch = await Promise.all([...Array(Math.min(16, n - i))].map(() =>
			fetch(url, { method: 'POST' }).then((r) => r.status).catch(() => 'error')));
		for (const st of batch) counts[st] = (counts[st] || 0) + 1;
	}
	console.log(`flood=${n} ${Object.entries(counts).map(([k, v]) => `status_${k}=${v}`).join(' ')}`);
}

async function register(url, tdexec, simdir, nonceFile) {
	let nonce;
	if (nonceFile && fs.existsSync(nonceFile)) {
		nonce = fs.readFileSync(nonceFile, 'utf8').trim();
	} else {
		const r = await (await fetch(`${url}/workers/challenge`, { method: 'POST' })).json();
		nonce = r.nonce;
		if (nonceFile) fs.writeFileSync(nonceFile, nonce);
	}
	const w = ethers.Wallet.createRandom();
	const n = ethers.getBytes('0x' + nonce);
	const rd = ethers.sha512(ethers.concat([ethers.toUtf8Bytes('tdexec-worker-v1'), n, w.address]));
	const quote = execFileSync(tdexec, ['quote', 'get', '--provider', 'sim', '--sim-dir', simdir,
		'--report-data', rd.slice(2), '--hex']).toString().trim();
	// lib/proto: keccak(tag || chainId || keccak(scheduler URL) || nonce || worker)
	const chain = JSON.parse(fs.readFileSync(process.env.CHAIN_FILE, 'utf8'));
	const chainId = (await new ethers.JsonRpcProvider(chain.rpc).getNetwork()).chainId;
	const digest = ethers.keccak256(ethers.concat([ethers.toUtf8Bytes('tdexec/worker-register/v1'),
		ethers.toBeHex(chainId, 32), ethers.keccak256(ethers.toUtf8Bytes(url)), n, w.address]));
	const sig = await w.signMessage(ethers.getBytes(digest));
	const r = await fetch(`${url}/workers/register`, {
		method: 'POST', headers: { Authorization: sig, 'Content-Type': 'application/json' },
		body: JSON.stringify({ address: w.address, nonce, quote: Buffer.from(quote, 'hex').toString('base64') }),
	});
	console.log(`register=${r.status} ${(await r.text()).slice(0, 80)}`);
}

(async () => {
	if (cmd === 'bodies') await bodies(a[0], +a[1], a[2], +a[3], +a[4]);
	else if (cmd === 'slow') await slow(a[0], +a[1], +a[2], +a[3], +a[4]);
	else if (cmd === 'flood') await flood(a[0], +a[1]);
	else if (cmd === 'register') await register(a[0], a[1], a[2], a[3]);
	else { console.error('usage: see the head of limits.js'); process.exit(2); }
	process.exit(0);
})();
