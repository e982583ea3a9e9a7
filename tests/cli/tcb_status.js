// Collateral for a simulated TD whose platform TCB level has another status:
// a copy of SIM_DIR/collateral (PCS file form) in OUT_DIR whose TCB info's
// first platform level says STATUS with advisory ADVISORY, signed again by the
// simulated TCB signing key, as Intel's PCS signs it (ECDSA P-256 over the
// exact bytes of "tcbInfo", r||s in hex).  So a verifier reaches STATUS for
// the simulated TD's own quotes with every signature valid.
// Usage: node tcb_status.js SIM_DIR OUT_DIR STATUS ADVISORY
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const [sim, out, status, advisory] = process.argv.slice(2);
if (!advisory) {
  console.error('usage: tcb_status.js SIM_DIR OUT_DIR STATUS ADVISORY');
  process.exit(2);
}
const src = path.join(sim, 'collateral');
fs.mkdirSync(out, { recursive: true });
for (const f of fs.readdirSync(src)) {
  // the dcap-qvl form would hold the old TCB info: only the PCS files are kept
  if (f !== 'collateral.json') fs.copyFileSync(path.join(src, f), path.join(out, f));
}
const info = JSON.parse(fs.readFileSync(path.join(src, 'tcb_info.json'), 'utf8')).tcbInfo;
info.tcbLevels[0].tcbStatus = status;
info.tcbLevels[0].advisoryIDs = [advisory];
const text = JSON.stringify(info);
const key = crypto.createPrivateKey(fs.readFileSync(path.join(sim, 'tcb_signing.key')));
const sig = crypto.sign('sha256', Buffer.from(text), { key, dsaEncoding: 'ieee-p1363' });
fs.writeFileSync(path.join(out, 'tcb_info.json'),
  `{"tcbInfo":${text},"signature":"${sig.toString('hex')}"}`);
