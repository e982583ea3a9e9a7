// A 13-byte contract standing in for an oracle consumer: on any call it
// stores word 0 of receiveResult(bytes32 taskid, bytes data)'s data in slot
// 0 and the task id in slot 1, so the test reads what PoCo delivered.
// Usage: node callback.js CHAIN_JSON deploy        -> prints its address
//        node callback.js CHAIN_JSON read ADDRESS  -> prints slot 0 and slot 1
'use strict';
const { ethers } = require('ethers');
const fs = require('fs');
const [chainFile, mode, address] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const provider = new ethers.JsonRpcProvider(chain.rpc);
// runtime: CALLDATALOAD(0x64) -> SSTORE(0); CALLDATALOAD(4) -> SSTORE(1); STOP
const runtime = '60643560005560043560015500';
// init: CODECOPY(0, 12, 13); RETURN(0, 13)
const init = '600d600c600039600d6000f3';
(async () => {
  if (mode === 'deploy') {
    const w = new ethers.Wallet(chain.accounts[4].private_key, provider);
    const tx = await w.sendTransaction({ data: '0x' + init + runtime });
    const r = await tx.wait();
    console.log(r.contractAddress);
  } else {
    console.log(await provider.getStorage(address, 0), await provider.getStorage(address, 1));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
