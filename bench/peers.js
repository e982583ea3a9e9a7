// Verifications per second of the same quote and collateral by the pinned
// peers: @phala/dcap-qvl (pure JS) and @phala/dcap-qvl-web (the Rust
// verifier compiled to wasm, loaded with initSync).  One core, after warm-up.
// Usage: node bench/peers.js QUOTE COLLATERAL_JSON UNIX_TIME [SECONDS]
'use strict';
const fs = require('fs');
const path = require('path');
const js = require('@phala/dcap-qvl');
const web = require('@phala/dcap-qvl-web');

const [quotePath, collPath, at, secs = '2'] = process.argv.slice(2);
const quote = fs.readFileSync(quotePath);
const coll = JSON.parse(fs.readFileSync(collPath, 'utf8'));
const wasmPath = path.join(path.dirname(require.resolve('@phala/dcap-qvl-web')), 'dcap-qvl-web_bg.wasm');
web.initSync({ module: fs.readFileSync(wasmPath) });

function rate(fn) {
  for (let i = 0; i < 10; i++) fn();
  const limit = Number(secs);
  const t0 = process.hrtime.bigint();
  let n = 0, t = 0;
  do {
    fn();
    n++;
    t = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (t < limit);
  return n / t;
}

const jsRate = rate(() => js.verify(quote, coll, Number(at)));
const wasmRate = rate(() => web.js_verify(quote, coll, BigInt(at)));
console.log(`js ${jsRate.toFixed(1)}`);
console.log(`wasm ${wasmRate.toFixed(1)}`);
