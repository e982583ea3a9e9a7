// EIP-712 hashes of an iExec RequestOrder per second with ethers v6 (pinned),
// for bench/bench_eth.  Prints "ethers_eip712 RATE".
'use strict';
const ethers = require('ethers');
const secs = Number(process.argv[2] || '2');
const types = { RequestOrder: [['app', 'address'], ['appmaxprice', 'uint256'], ['dataset', 'address'], ['datasetmaxprice', 'uint256'], ['workerpool', 'address'], ['workerpoolmaxprice', 'uint256'], ['requester', 'address'], ['volume', 'uint256'], ['tag', 'bytes32'], ['category', 'uint256'], ['trust', 'uint256'], ['beneficiary', 'address'], ['callback', 'address'], ['params', 'string'], ['salt', 'bytes32']].map(([name, type]) => ({ name, type })) };
const a = '0x' + '11'.repeat(20);
const msg = { app: a, appmaxprice: '1000000000', dataset: a, datasetmaxprice: '0', workerpool: a, workerpoolmaxprice: '4000000000', requester: a, volume: '1', tag: '0x' + '00'.repeat(31) + '09', category: '0', trust: '1', beneficiary: a, callback: '0x' + '00'.repeat(20), params: '{"iexec_args":"hello"}', salt: '0x' + '42'.repeat(32) };
const domain = { name: 'iExecODB', version: '5.0.0', chainId: 31337, verifyingContract: a };
for (let i = 0; i < 200; i++) ethers.TypedDataEncoder.hash(domain, types, msg);
let n = 0; const t0 = process.hrtime.bigint(); let t;
do { ethers.TypedDataEncoder.hash(domain, types, msg); n++; t = Number(process.hrtime.bigint() - t0) / 1e9; } while (t < secs);
console.log(`ethers_eip712 ${(n / t).toFixed(0)}`);
