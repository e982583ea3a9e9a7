// initialize.js CHAIN_FILE DEALID INDEX [pending]: the requester (account 4)
// initializes a classic deal's task itself, as PoCo lets anyone do.  With
// "pending" the transaction is left in the node's pool (automine off), with
// a tip that puts it first in the next block.
const { ethers } = require('ethers');

const [chainFile, deal, idx, pending] = process.argv.slice(2);
const chain = require(chainFile);
const provider = new ethers.JsonRpcProvider(chain.rpc, undefined, { staticNetwork: true });
const hub = new ethers.Contract(chain.hub,
	['function initialize(bytes32,uint256) returns (bytes32)'],
	new ethers.Wallet(chain.accounts[4].private_key, provider));
const gwei = (n) => ethers.parseUnits(String(n), 'gwei');
const opts = pending ? { gasLimit: 500000, maxPriorityFeePerGas: gwei(50), maxFeePerGas: gwei(500) } : {};
hub.initialize(deal, idx, opts).then((tx) => pending ? null : tx.wait()).then(
	(r) => process.exit(!r || r.status === 1 ? 0 : 1),
	(e) => { console.error(e.message); process.exit(1); });
