// The token server of a registry with `auth: token` (the flow public
// registries use): a client refused by the registry with
// `WWW-Authenticate: Bearer realm=...,service=...,scope=...` asks here, with
// Basic credentials, for a JWT the registry then accepts.  Over HTTPS with
// the suite's test CA, as a real realm is.
//
// distribution 2.8 checks the JWT's signature with the key of the first
// certificate of the header's x5c, that certificate against its
// `rootcertbundle`, and the claims iss (its `issuer`), aud (its `service`),
// exp/nbf, and access (the repository and actions asked).  ES256 signatures
// are raw r||s (JWS), not DER.
//
// Usage: node token_server.js DIR PORT_FILE USER:PASSWORD
//   DIR holds tls.crt/tls.key (the HTTPS server's), sign.crt/sign.key (the
//   token signer's, the registry's rootcertbundle), and receives the port.
// Logs one line per request on stdout: the verdict and the scope.
'use strict';
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const [dir, portFile, cred] = process.argv.slice(2);
const ISSUER = 'tdexec-regtest-issuer';
const signKey = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'sign.key')));
const signDer = new crypto.X509Certificate(fs.readFileSync(path.join(dir, 'sign.crt'))).raw;
const want = Buffer.from(cred);

const b64u = (b) => Buffer.from(b).toString('base64url');

// "repository:NAME:pull,push" -> {type, name, actions}; NAME may hold ':'
// only in a registry's host part, which scopes never carry.
function parseScope(s) {
  const m = /^([a-z]+):([^:]+):([a-z*,]+)$/.exec(s);
  return m ? { type: m[1], name: m[2], actions: m[3].split(',') } : null;
}

function token(sub, service, access) {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'ES256', x5c: [signDer.toString('base64')] };
  const claims = {
    iss: ISSUER, sub, aud: service, exp: now + 300, nbf: now - 10, iat: now,
    jti: crypto.randomBytes(16).toString('hex'), access,
  };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: signKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

const srv = https.createServer({
  cert: fs.readFileSync(path.join(dir, 'tls.crt')),
  key: fs.readFileSync(path.join(dir, 'tls.key')),
}, (req, res) => {
  const u = new URL(req.url, 'https://127.0.0.1');
  const scopes = u.searchParams.getAll('scope').join(' ').split(' ').filter(Boolean);
  const auth = req.headers.authorization || '';
  const m = /^Basic (.+)$/i.exec(auth);
  const got = m ? Buffer.from(m[1], 'base64') : Buffer.alloc(0);
  // constant time, as for any secret
  const good = got.length === want.length && crypto.timingSafeEqual(got, want);
  if (u.pathname !== '/token' || !good) {
    console.log(`token=refused path=${u.pathname} credentials=${m ? 'wrong' : 'none'} scope="${scopes.join(' ')}"`);
    res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="regtest"' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'wrong user name or password' }] }));
    return;
  }
  const access = scopes.map(parseScope).filter(Boolean);
  const t = token(got.toString().split(':')[0], u.searchParams.get('service') || '', access);
  console.log(`token=issued scope="${scopes.join(' ')}"`);
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ token: t, access_token: t, expires_in: 300, issued_at: new Date().toISOString() }));
});
srv.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(srv.address().port)));
process.on('SIGTERM', () => srv.close(() => process.exit(0)));
