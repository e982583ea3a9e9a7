// The iExec SDK (npm `iexec`, pinned) against the pool's market: an app
// developer publishes an app order through the SDK's own code (challenge,
// EIP-712 authorization, POST), the SDK reads the app and workerpool order
// books, an order signed by someone else than the app's owner is refused,
// and a requester buys a task with the SDK's matchOrders: a classic deal
// that the pool then runs.  Prints the deal id last.
// Usage: node market.js MARKET_URL SMS_URL CHAIN_JSON APP WORKERPOOL
'use strict';
const fs = require('fs');

const [market, sms, chainFile, app, pool] = process.argv.slice(2);
const chain = JSON.parse(fs.readFileSync(chainFile, 'utf8'));
const TDX = '0x0000000000000000000000000000000000000000000000000000000000000009';

let pass = 0, fail = 0;
function check(what, got, want) {
  if (got === want) pass++;
  else { fail++; console.error(`FAIL: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
}

(async () => {
  const { IExec, utils } = await import('iexec');
  const sdk = (i) => new IExec({ ethProvider: utils.getSignerFromPrivateKey(chain.rpc, chain.accounts[i].private_key) },
    { hubAddress: chain.hub, smsURL: sms, iexecGatewayURL: market, allowExperimentalNetworks: true });
  const dev = sdk(1), requester = sdk(4);

  const ao = await dev.order.signApporder(await dev.order.createApporder({ app, appprice: 0, volume: 5, tag: TDX }),
    { preflightCheck: false });
  const hash = await dev.order.publishApporder(ao, { preflightCheck: false });
  check('published hash', hash, await dev.order.hashApporder(ao));
  const book = await requester.orderbook.fetchAppOrderbook({ app, minTag: TDX });
  check('app order in the book', book.orders.some((o) => o.orderHash === hash), true);
  check('remaining volume', book.orders.find((o) => o.orderHash === hash).remaining, 5);
  const wbook = await requester.orderbook.fetchWorkerpoolOrderbook({ workerpool: pool, minTag: TDX });
  check('the pool keeps an order on the book', wbook.count >= 1, true);

  // The SDK will not sign for another owner; change a signed order instead.
  let refused = false;
  try { await dev.order.publishApporder({ ...ao, volume: '6' }, { preflightCheck: false }); } catch (e) {
    refused = /signed|403|publishing/.test(e.message);
  }
  check('an app order whose signature is not the app owner\'s', refused, true);

  const wo = wbook.orders[0].order;
  const ro = await requester.order.signRequestorder(await requester.order.createRequestorder({
    app, appmaxprice: 0, workerpool: pool, workerpoolmaxprice: wo.workerpoolprice, category: wo.category,
    volume: 1, tag: TDX, trust: 0, params: { iexec_args: "'echo from the SDK > /iexec_out/r.txt'" },
  }), { preflightCheck: false });
  const { dealid } = await requester.order.matchOrders({ apporder: ao, workerpoolorder: wo, requestorder: ro },
    { preflightCheck: false });
  console.error(`${pass} passed, ${fail} failed`);
  console.log(dealid);
  process.exit(fail ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
