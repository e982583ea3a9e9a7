// A registry of the OCI distribution API for the registry test, on
// 127.0.0.1 only: Bearer token auth (the realm on the same server, Basic
// credentials required for the "private" repository), blobs redirected to
// a second server (the "CDN", another port), and misbehaviours on purpose:
// a blob cut halfway at its first download, a tampered blob, an oversize
// blob, an index without linux/amd64, error bodies of 1 byte and of bytes
// that are not UTF-8, a manifest trickled a byte at a time, a layer whose
// every download dies halfway.
//
// usage: node fake_registry.js DIR [CERT KEY]
// With CERT and KEY the registry (not the CDN) speaks TLS.  With
// FAKE_BIG_MIB=N in the environment, "big:latest" has four layers of N MiB
// (for measuring a pull's rate by hand).
// Writes DIR/ports ("REGISTRY CDN"), DIR/digests.json (what each
// repository's tag should pull as) and DIR/requests.log (one JSON line per
// request: server, method, path, whether Authorization was sent, Range).
'use strict';
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const USER = 'alice', PASS = 'wonder land:1';
const sha = (b) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
const blobs = new Map(); // digest -> Buffer
const manifests = new Map(); // "repo/ref" -> {body, type}
const served = new Map(); // digest -> override bytes served instead
const tokens = new Map(); // token -> scope
const cuts = new Set(); // digests cut halfway at their first download
const dies = new Set(); // digests cut halfway at every download
const digests = {};

function bytes(seed, n) {
	if (n > (8 << 20))
		return crypto.randomBytes(n); // the by-hand measurement's layers
	const out = Buffer.alloc(n);
	let h = Buffer.from(seed);
	for (let o = 0; o < n; o += 32) {
		h = crypto.createHash('sha256').update(h).digest();
		h.copy(out, o, 0, Math.min(32, n - o));
	}
	return out;
}
function blob(b) {
	const d = sha(b);
	blobs.set(d, b);
	return {digest: d, size: b.length};
}
const OCI_M = 'application/vnd.oci.image.manifest.v1+json';
const OCI_I = 'application/vnd.oci.image.index.v1+json';
const DOCKER_M = 'application/vnd.docker.distribution.manifest.v2+json';
function image(name, layerSizes, type = OCI_M) {
	const layers = layerSizes.map((n, i) => ({
		mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(bytes(name + i, n))}));
	const cfg = blob(Buffer.from(JSON.stringify({
		architecture: 'amd64', os: 'linux',
		config: {Entrypoint: ['/bin/' + name], Cmd: ['--serve'], Env: ['PATH=/bin', 'MODE=' + name],
		         WorkingDir: '/srv', User: '1000:1000'},
		rootfs: {type: 'layers', diff_ids: layers.map(l => l.digest)}})));
	const m = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: type,
		config: {mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg}, layers}));
	return {body: m, type, digest: sha(m), layers};
}
function put(repo, ref, m) {
	manifests.set(repo + '/' + ref, m);
	manifests.set(repo + '/' + m.digest, m);
}
function index(repo, tag, entries) {
	const idx = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: OCI_I,
		manifests: entries.map(([m, os, arch, variant]) => ({mediaType: m.type, digest: m.digest,
			size: m.body.length, platform: {os, architecture: arch, ...(variant ? {variant} : {})}}))}));
	const m = {body: idx, type: OCI_I, digest: sha(idx)};
	for (const [e] of entries)
		put(repo, e.digest, e);
	put(repo, tag, m);
	return m;
}

// app: a two-platform index; the amd64 image's 3 MiB layer is cut at its
// first download
const amd = image('app', [3 << 20, 4096, 100]);
const arm = image('app-arm', [2048]);
digests.app = index('app', 'latest', [[arm, 'linux', 'arm64', 'v8'], [amd, 'linux', 'amd64']]).digest;
digests.app_manifest = amd.digest;
digests.app_big_layer = amd.layers[0].digest;
cuts.add(amd.layers[0].digest);
// private: a Docker v2 manifest, credentials required for its token
const priv = image('private', [1000], DOCKER_M);
put('private', 'v1', priv);
digests.private = priv.digest;
// armonly: no linux/amd64
digests.armonly = index('armonly', 'latest',
	[[image('a1', [10]), 'linux', 'arm64', 'v8'], [image('a2', [10]), 'linux', 's390x']]).digest;
// tampered: a layer served with one byte changed
const tam = image('tampered', [5000]);
put('tampered', 'latest', tam);
const bad = Buffer.from(blobs.get(tam.layers[0].digest));
bad[100] ^= 1;
served.set(tam.layers[0].digest, bad);
digests.tampered = tam.digest;
digests.tampered_layer = tam.layers[0].digest;
// oversize: a layer served with more bytes than its descriptor says
const over = image('oversize', [5000]);
put('oversize', 'latest', over);
served.set(over.layers[0].digest, Buffer.concat([blobs.get(over.layers[0].digest), bytes('x', 100)]));
digests.oversize = over.digest;
digests.oversize_layer = over.layers[0].digest;

// dies: a layer whose every download dies halfway
const die = image('dies', [200000]);
put('dies', 'latest', die);
dies.add(die.layers[0].digest);
digests.dies_layer = die.layers[0].digest;

if (process.env.FAKE_BIG_MIB) {
	const n = Number(process.env.FAKE_BIG_MIB) << 20;
	const big = image('big', [n, n, n, n]);
	put('big', 'latest', big);
	digests.big = big.digest;
}

const log = fs.openSync(path.join(dir, 'requests.log'), 'a');
function record(server, req) {
	fs.writeSync(log, JSON.stringify({server, method: req.method, path: req.url,
		auth: req.headers.authorization ? req.headers.authorization.split(' ')[0] : null,
		range: req.headers.range || null}) + '\n');
}

let regPort, cdnPort;
const cdnCounts = new Map();
const cdn = http.createServer((req, res) => {
	record('cdn', req);
	const d = decodeURIComponent(req.url.replace(/^\/b\//, '').split('?')[0]);
	const body = served.get(d) || blobs.get(d);
	if (!body) { res.writeHead(404); return res.end(); }
	const n = (cdnCounts.get(d) || 0) + 1;
	cdnCounts.set(d, n);
	let from = 0;
	const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
	if (m) from = Number(m[1]);
	if (from > body.length) { res.writeHead(416); return res.end(); }
	const part = body.subarray(from);
	res.writeHead(from ? 206 : 200, {'Content-Length': part.length,
		...(from ? {'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}`} : {})});
	if ((cuts.has(d) && n === 1) || dies.has(d)) {
		// half the blob, then the connection dies
		res.write(part.subarray(0, part.length >> 1), () => setTimeout(() => req.socket.destroy(), 50));
		return;
	}
	res.end(part);
});

const tls = process.argv[3] ? {cert: fs.readFileSync(process.argv[3]), key: fs.readFileSync(process.argv[4])} : null;
const scheme = tls ? 'https' : 'http';
const handler = (req, res) => {
	record('registry', req);
	const u = new URL(req.url, 'http://x');
	if (u.pathname === '/token') {
		const scope = u.searchParams.get('scope') || '';
		if (u.searchParams.get('service') !== 'fake-registry') { res.writeHead(400); return res.end(); }
		if (scope.startsWith('repository:private:')) {
			const want = 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64');
			if (req.headers.authorization !== want) {
				res.writeHead(401, {'Content-Type': 'application/json'});
				return res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
			}
		}
		const t = crypto.randomBytes(24).toString('hex');
		tokens.set(t, scope);
		res.writeHead(200, {'Content-Type': 'application/json'});
		// the "access_token" spelling for private, "token" otherwise
		return res.end(JSON.stringify(scope.startsWith('repository:private:')
			? {access_token: t} : {token: t, expires_in: 300}));
	}
	const m = /^\/v2\/([a-z0-9/._-]+)\/(manifests|blobs)\/([^/]+)$/.exec(u.pathname);
	if (u.pathname === '/v2/' || !m) { res.writeHead(m ? 404 : 200); return res.end('{}'); }
	const [, repo, kind, ref] = m;
	const auth = req.headers.authorization || '';
	const tok = auth.startsWith('Bearer ') ? auth.slice(7) : null;
	if (!tok || tokens.get(tok) !== `repository:${repo}:pull`) {
		res.writeHead(401, {'WWW-Authenticate':
			`Bearer realm="${scheme}://127.0.0.1:${regPort}/token",service="fake-registry",scope="repository:${repo}:pull"`,
			'Content-Type': 'application/json'});
		return res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
	}
	// denied, garbled: refused with a 1-byte body, with a body that is not
	// UTF-8 (an invalid byte, then a multibyte character cut short)
	if (repo === 'denied' || repo === 'garbled') {
		res.writeHead(403, {'Content-Type': 'text/plain'});
		return res.end(repo === 'denied' ? Buffer.from('x') : Buffer.from([0x62, 0xff, 0x1b, 0xc3]));
	}
	// trickle: a manifest that arrives a byte every 200 ms, never stalled
	// long enough for a low-speed limit
	if (repo === 'trickle') {
		res.writeHead(200, {'Content-Type': OCI_M, 'Content-Length': 100000});
		const t = setInterval(() => res.write(' '), 200);
		res.on('close', () => clearInterval(t));
		return;
	}
	if (kind === 'manifests') {
		const e = manifests.get(repo + '/' + ref);
		if (!e) { res.writeHead(404); return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'); }
		res.writeHead(200, {'Content-Type': e.type, 'Docker-Content-Digest': e.digest,
			'Content-Length': e.body.length});
		return res.end(e.body);
	}
	if (!blobs.has(ref)) { res.writeHead(404); return res.end('{"errors":[{"code":"BLOB_UNKNOWN"}]}'); }
	res.writeHead(307, {Location: `http://127.0.0.1:${cdnPort}/b/${encodeURIComponent(ref)}?sig=x`});
	res.end();
};
const reg = tls ? https.createServer(tls, handler) : http.createServer(handler);

cdn.listen(0, '127.0.0.1', () => {
	cdnPort = cdn.address().port;
	reg.listen(0, '127.0.0.1', () => {
		regPort = reg.address().port;
		digests.user = USER;
		digests.password = PASS;
		fs.writeFileSync(path.join(dir, 'digests.json'), JSON.stringify(digests, null, 1));
		fs.writeFileSync(path.join(dir, 'ports'), `${regPort} ${cdnPort}\n`);
	});
});
