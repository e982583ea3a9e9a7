// escrow.js CHAIN_FILE DEALID|- ADDRESS...: what the chain says each address
// earned and holds, read with ethers (an implementation independent of the
// scheduler's): the sums of the hub's Reward, Seize, Lock and Unlock events
// to it from block 0, its viewAccount (stake, locked), and the Boost deal's
// workerReward and workerpoolPrice.  One JSON object on stdout:
// {"head": N, "deal": {"workerReward": "…", "workerpoolPrice": "…"},
//  "accounts": {"0x…": {"rewards", "seized", "locks", "unlocks", "stake", "locked"}}}
// (amounts as decimal strings, addresses in lower case).
const fs = require('fs');
const path = require('path');
const { ethers } = require('ethers');

const [chainFile, dealid, ...who] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const root = path.join(__dirname, '..', '..', 'node_modules', '@iexec', 'poco', 'artifacts',
	'contracts');
const abi = [];
for (const f of ['facets/IexecEscrow.v8.sol/IexecEscrow.json',
	'IexecInterfaceToken.sol/IexecInterfaceToken.json',
	'facets/IexecPocoBoostAccessorsFacet.sol/IexecPocoBoostAccessorsFacet.json'])
	abi.push(...JSON.parse(fs.readFileSync(path.join(root, f), 'utf8')).abi);
const seen = new Set();
const iface = abi.filter((e) => {
	const k = e.type + ':' + e.name + ':' + JSON.stringify(e.inputs || []);
	if (seen.has(k)) return false;
	seen.add(k);
	return true;
});

(async () => {
	const p = new ethers.JsonRpcProvider(chain.rpc, undefined, { staticNetwork: true });
	const hub = new ethers.Contract(chain.hub, iface, p);
	const head = await p.getBlockNumber();
	const out = { head, deal: {}, accounts: {} };
	const kinds = { Reward: 'rewards', Seize: 'seized', Lock: 'locks', Unlock: 'unlocks' };
	for (const a of who) out.accounts[a] = { rewards: 0n, seized: 0n, locks: 0n, unlocks: 0n };
	for (const [ev, key] of Object.entries(kinds)) {
		for (const l of await hub.queryFilter(ev, 0, head)) {
			const a = out.accounts[l.args.owner.toLowerCase()];
			if (a) a[key] += l.args.amount;
		}
	}
	for (const a of who) {
		const v = await hub.viewAccount(a, { blockTag: head });
		Object.assign(out.accounts[a], { stake: v.stake, locked: v.locked });
	}
	if (dealid !== '-') {
		const d = await hub.viewDealBoost(dealid, { blockTag: head });
		out.deal = { workerReward: d.workerReward, workerpoolPrice: d.workerpoolPrice };
	}
	console.log(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
})().catch((e) => {
	console.error(e);
	process.exit(1);
});
