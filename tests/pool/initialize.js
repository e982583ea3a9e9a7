// initialize.js CHAIN_FILE DEALID INDEX: the requester (account 4)
// initializes a classic deal's task itself, as PoCo lets anyone do.
const { ethers } = require('ethers');

const [chainFile, deal, idx] = process.argv.slice(2);
const chain = require(chainFile);
const provider = new ethers.JsonRpcProvider(chain.rpc, undefined, { staticNetwork: true });
const hub = new ethers.Contract(chain.hub,
	['function initialize(bytes32,uint256) returns (bytes32)'],
	new ethers.Wallet(chain.accounts[4].private_key, provider));
hub.initialize(deal, idx).then((tx) => tx.wait()).then(
	(r) => process.exit(r.status === 1 ? 0 : 1),
	(e) => { console.error(e.message); process.exit(1); });
