// Differential test: tdexec's Ethereum primitives (through tests/diff/eth_vec.c)
// against ethers v6 (pinned in package.json) on the same seeded random inputs:
// keccak-256, addresses and EIP-55, secp256k1 signatures (RFC 6979, so equal
// bytes), EIP-191, recovery, RLP, ABI encodings (and our decoding back) of
// every PoCo function tdexec calls, EIP-712 hashes of every iExec order type,
// and signed EIP-1559 and legacy transactions.  Every case must agree.
// Usage: node ethers_diff.js ETH_VEC [CASES_PER_KIND]
'use strict';
const { spawnSync } = require('child_process');
const ethers = require('ethers');

const [vec, perArg = '300'] = process.argv.slice(2);
const per = Number(perArg);

const { rnd, pick } = require('./prng')(0x1badb002);
const bytes = (n) => Uint8Array.from({ length: n }, () => pick(256));
const hex = (n) => ethers.hexlify(bytes(n));
const bigOf = (bits) => {
  const r = pick(4);
  if (r === 0) return 0n;
  if (r === 1) return (1n << BigInt(bits)) - 1n;
  return BigInt(ethers.hexlify(bytes(bits / 8))) & ((1n << BigInt(bits)) - 1n);
};
function privKey() {
  for (;;) {
    const k = hex(32);
    try { new ethers.SigningKey(k); return k; } catch (e) { /* out of range */ }
  }
}
function randString() {
  const parts = ['', 'a', 'iExec', 'é', '€', 'テスト', '🙂', '{"iexec_args":"x"}'];
  let s = '';
  for (let i = pick(6); i > 0; i--) s += parts[pick(parts.length)];
  return s;
}

// A random value for an ethers ParamType, in the JSON form tdexec takes.
function value(pt) {
  switch (pt.baseType) {
    case 'tuple': return pt.components.map(value);
    case 'array': {
      const n = pt.arrayLength >= 0 ? pt.arrayLength : pick(4);
      return Array.from({ length: n }, () => value(pt.arrayChildren));
    }
    case 'address': return ethers.getAddress(hex(20));
    case 'bool': return pick(2) === 1;
    case 'string': return randString();
    case 'bytes': return hex(pick(70));
    default: {
      let m = pt.baseType.match(/^bytes(\d+)$/);
      if (m) return hex(Number(m[1]));
      m = pt.baseType.match(/^(u?)int(\d+)$/);
      const bits = Number(m[2]);
      let v = bigOf(bits);
      if (!m[1]) v = BigInt.asIntN(bits, v);
      return v.toString();
    }
  }
}

// tdexec's decoded form of a value: integers decimal, addresses checksummed.
function norm(pt, v) {
  if (pt.baseType === 'tuple') return pt.components.map((c, i) => norm(c, v[i]));
  if (pt.baseType === 'array') return v.map((x) => norm(pt.arrayChildren, x));
  if (typeof v === 'bigint') return v.toString();
  if (pt.baseType === 'address') return ethers.getAddress(v);
  if (/^bytes/.test(pt.baseType)) return ethers.hexlify(v);
  return v;
}

const order = {
  app: '(address,uint256,uint256,bytes32,address,address,address,bytes32,bytes)',
  dataset: '(address,uint256,uint256,bytes32,address,address,address,bytes32,bytes)',
  workerpool: '(address,uint256,uint256,bytes32,uint256,uint256,address,address,address,bytes32,bytes)',
  request: '(address,uint256,address,uint256,address,uint256,address,uint256,bytes32,uint256,uint256,address,address,string,bytes32,bytes)',
};
// Every PoCo function tdexec calls (IexecPoco*, escrow, registries, RLC, diamond).
const pocoFunctions = [
  `matchOrders(${order.app},${order.dataset},${order.workerpool},${order.request})`,
  `matchOrdersBoost(${order.app},${order.dataset},${order.workerpool},${order.request})`,
  'initialize(bytes32,uint256)',
  'contribute(bytes32,bytes32,bytes32,address,bytes,bytes)',
  'reveal(bytes32,bytes32)',
  'finalize(bytes32,bytes,bytes)',
  'contributeAndFinalize(bytes32,bytes32,bytes,bytes,address,bytes,bytes)',
  'pushResultBoost(bytes32,uint256,bytes,bytes,bytes,address,bytes)',
  'claim(bytes32)',
  'claimBoost(bytes32,uint256)',
  'deposit(uint256)',
  'withdraw(uint256)',
  'approveAndCall(address,uint256,bytes)',
  'transfer(address,uint256)',
  'createApp(address,string,string,bytes,bytes32,bytes)',
  'createDataset(address,string,bytes,bytes32)',
  'createWorkerpool(address,string)',
  'configure(address,string,string,uint8,address,address,address,address)',
  'createCategory(string,string,uint256)',
  'diamondCut((address,uint8,bytes4[])[],address,bytes)',
  'cancelAppOrder((address,uint256,uint256,bytes32,address,address,address,bytes32,bytes))',
  'manageRequestOrder(((address,uint256,address,uint256,address,uint256,address,uint256,bytes32,uint256,uint256,address,address,string,bytes32,bytes),uint8,bytes))',
  'viewTask(bytes32)', 'viewDeal(bytes32)', 'viewAccount(address)',
];

const orderTypes = {
  AppOrder: [['app', 'address'], ['appprice', 'uint256'], ['volume', 'uint256'], ['tag', 'bytes32'], ['datasetrestrict', 'address'], ['workerpoolrestrict', 'address'], ['requesterrestrict', 'address'], ['salt', 'bytes32']],
  DatasetOrder: [['dataset', 'address'], ['datasetprice', 'uint256'], ['volume', 'uint256'], ['tag', 'bytes32'], ['apprestrict', 'address'], ['workerpoolrestrict', 'address'], ['requesterrestrict', 'address'], ['salt', 'bytes32']],
  WorkerpoolOrder: [['workerpool', 'address'], ['workerpoolprice', 'uint256'], ['volume', 'uint256'], ['tag', 'bytes32'], ['category', 'uint256'], ['trust', 'uint256'], ['apprestrict', 'address'], ['datasetrestrict', 'address'], ['requesterrestrict', 'address'], ['salt', 'bytes32']],
  RequestOrder: [['app', 'address'], ['appmaxprice', 'uint256'], ['dataset', 'address'], ['datasetmaxprice', 'uint256'], ['workerpool', 'address'], ['workerpoolmaxprice', 'uint256'], ['requester', 'address'], ['volume', 'uint256'], ['tag', 'bytes32'], ['category', 'uint256'], ['trust', 'uint256'], ['beneficiary', 'address'], ['callback', 'address'], ['params', 'string'], ['salt', 'bytes32']],
};

const cases = []; // [request for eth_vec, expected result from ethers]
for (let i = 0; i < per; i++) {
  const data = hex(pick(300));
  cases.push([{ op: 'keccak', data }, { hash: ethers.keccak256(data) }]);
  const priv = privKey(), w = new ethers.Wallet(priv);
  cases.push([{ op: 'address', priv }, { address: w.address }]);
  cases.push([{ op: 'checksum', address: w.address.toLowerCase() }, { address: w.address }]);
  const digest = hex(32);
  const sig = new ethers.SigningKey(priv).sign(digest).serialized;
  cases.push([{ op: 'sign', priv, digest }, { sig }]);
  cases.push([{ op: 'recover', digest, sig }, { address: w.address }]);
  cases.push([{ op: 'personal_sign', priv, digest }, { sig: w.signMessageSync(ethers.getBytes(digest)) }]);
  const tree = (d) => (d > 2 || pick(3) === 0 ? hex(pick(3) === 0 ? pick(2) : pick(70)) : Array.from({ length: pick(4) }, () => tree(d + 1)));
  const items = Array.from({ length: pick(5) }, () => tree(0));
  cases.push([{ op: 'rlp', items }, { rlp: ethers.encodeRlp(items) }]);
}
const coder = ethers.AbiCoder.defaultAbiCoder();
for (let i = 0; i < per; i++) {
  const sigText = pocoFunctions[i % pocoFunctions.length];
  const name = sigText.slice(0, sigText.indexOf('('));
  const tupleType = ethers.ParamType.from(sigText.slice(sigText.indexOf('(')));
  const args = value(tupleType);
  const iface = new ethers.Interface([`function ${sigText}`]);
  cases.push([{ op: 'call', sig: sigText, args }, { data: iface.encodeFunctionData(name, args) }]);
  const types = tupleType.components.map((c) => c.format());
  cases.push([{ op: 'abi', types: tupleType.format(), values: args },
    { data: coder.encode(types, args), decoded: norm(tupleType, args) }]);
}
const domain = (chainId) => ({ name: 'iExecODB', version: '5.0.0', chainId: String(chainId), verifyingContract: ethers.getAddress(hex(20)) });
for (let i = 0; i < per; i++) {
  const primaryType = Object.keys(orderTypes)[i % 4];
  const fields = orderTypes[primaryType].map(([name, type]) => ({ name, type }));
  const message = {};
  for (const f of fields) message[f.name] = value(ethers.ParamType.from(f.type));
  if (primaryType === 'RequestOrder') message.params = randString();
  const d = domain(1 + pick(100000));
  const typed = { types: { [primaryType]: fields }, primaryType, domain: d, message };
  cases.push([{ op: 'eip712', typed }, { digest: ethers.TypedDataEncoder.hash(d, { [primaryType]: fields }, message) }]);
}
// EIP-712 with nested structs and arrays (the spec's Mail example, extended).
{
  const types = { Person: [{ name: 'name', type: 'string' }, { name: 'wallets', type: 'address[]' }],
    Mail: [{ name: 'from', type: 'Person' }, { name: 'to', type: 'Person[]' }, { name: 'contents', type: 'string' }, { name: 'tags', type: 'bytes32[2]' }] };
  for (let i = 0; i < 20; i++) {
    const person = () => ({ name: randString(), wallets: Array.from({ length: pick(3) }, () => ethers.getAddress(hex(20))) });
    const message = { from: person(), to: Array.from({ length: pick(3) }, person), contents: randString(), tags: [hex(32), hex(32)] };
    const d = domain(1);
    cases.push([{ op: 'eip712', typed: { types, primaryType: 'Mail', domain: d, message } },
      { digest: ethers.TypedDataEncoder.hash(d, types, message) }]);
  }
}
for (let i = 0; i < per; i++) {
  const priv = privKey(), type = pick(2) ? 2 : 0;
  const prio = bigOf(32);
  const t = { type, chainId: 1 + pick(1 << 20), nonce: pick(1 << 20), gasLimit: 21000 + pick(5000000),
    maxFeePerGas: (prio + bigOf(48)).toString(), maxPriorityFeePerGas: type === 2 ? prio.toString() : undefined,
    to: pick(5) ? ethers.getAddress(hex(20)) : null, value: bigOf(96).toString(), data: hex(pick(200)) };
  const e = ethers.Transaction.from({ type, chainId: t.chainId, nonce: t.nonce, gasLimit: t.gasLimit,
    ...(type === 2 ? { maxFeePerGas: t.maxFeePerGas, maxPriorityFeePerGas: t.maxPriorityFeePerGas } : { gasPrice: t.maxFeePerGas }),
    to: t.to, value: t.value, data: t.data });
  e.signature = new ethers.SigningKey(priv).sign(e.unsignedHash);
  cases.push([{ op: 'tx', priv, tx: t }, { raw: e.serialized, hash: e.hash }]);
}

// Keystores both ways (small scrypt N to keep the run short).
for (let i = 0; i < 6; i++) {
  const priv = privKey(), password = randString() || 'pw';
  const w = new ethers.Wallet(priv);
  cases.push([{ op: 'keystore_decrypt', password, keystore: w.encryptSync(password, { scrypt: { N: 1024 } }) }, { priv }]);
  cases.push([{ op: 'keystore_encrypt', priv, password, n: 1024 }, { _decrypts_to: priv, _password: password }]);
}

const r = spawnSync(vec, [], { input: cases.map(([q]) => JSON.stringify(q)).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 28 });
if (r.status !== 0) throw new Error(`eth_vec exit ${r.status}: ${r.stderr}`);
const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
let pass = 0;
const fails = [];
cases.forEach(([q, want], i) => {
  const got = out[i] || {};
  let same;
  if (want._decrypts_to) {
    try {
      same = ethers.Wallet.fromEncryptedJsonSync(got.keystore, want._password).privateKey === want._decrypts_to;
    } catch (e) { same = false; }
  } else {
    same = Object.keys(want).every((k) => JSON.stringify(got[k]) === JSON.stringify(want[k]));
  }
  if (same) pass++; else fails.push(`${q.op} ${q.sig || q.types || ''}: got ${JSON.stringify(got).slice(0, 300)} want ${JSON.stringify(want).slice(0, 300)}`);
});
const kinds = {};
cases.forEach(([q]) => { kinds[q.op] = (kinds[q.op] || 0) + 1; });
console.log(`ethers differential: ${cases.length} cases (${Object.entries(kinds).map(([k, v]) => `${k} ${v}`).join(', ')})`);
for (const f of fails.slice(0, 10)) console.log(`  DIFFER: ${f}`);
console.log(`${pass} passed, ${fails.length} failed`);
process.exit(fails.length ? 1 : 0);
