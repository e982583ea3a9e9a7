// calls.js CHAIN_FILE: every transaction sent to the hub on a local chain,
// counted by the PoCo function it called, and every hub event by name; one
// JSON object on stdout ({"calls": {"matchOrders": 1, ...}, "events": {...}}).
// Names come from the @iexec/poco interface's ABI, so a Boost call or event
// is named as such even on a hub that does not route it.
const fs = require('fs');
const path = require('path');
const { ethers } = require('ethers');

const chain = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const root = path.join(__dirname, '..', '..', 'node_modules', '@iexec', 'poco', 'artifacts',
	'contracts');
const abi = [];
for (const f of ['IexecInterfaceToken.sol/IexecInterfaceToken.json',
	'facets/IexecPocoBoostFacet.sol/IexecPocoBoostFacet.json'])
	abi.push(...JSON.parse(fs.readFileSync(path.join(root, f), 'utf8')).abi);
const seen = new Set();
const iface = new ethers.Interface(abi.filter((e) => {
	const k = e.type + ':' + e.name + ':' + JSON.stringify(e.inputs || []);
	if (seen.has(k)) return false;
	seen.add(k);
	return true;
}));
const hub = chain.hub.toLowerCase();

(async () => {
	const p = new ethers.JsonRpcProvider(chain.rpc, undefined, { staticNetwork: true });
	const head = await p.getBlockNumber();
	const calls = {}, events = {};
	for (let n = 0; n <= head; n++) {
		const b = await p.getBlock(n, true);
		for (const tx of b.prefetchedTransactions) {
			if (!tx.to || tx.to.toLowerCase() !== hub) continue;
			let name = tx.data.slice(0, 10);
			try { name = iface.parseTransaction({ data: tx.data }).name; } catch { /* unnamed */ }
			calls[name] = (calls[name] || 0) + 1;
		}
	}
	for (const l of await p.getLogs({ address: chain.hub, fromBlock: 0, toBlock: head })) {
		let name = l.topics[0];
		try { name = iface.parseLog(l).name; } catch { /* unnamed */ }
		events[name] = (events[name] || 0) + 1;
	}
	console.log(JSON.stringify({ calls, events }));
})().catch((e) => { console.error(e.message); process.exit(1); });
