// Open an encrypted result with the iExec SDK's own decryptResult (npm
// iexec, pinned): what tdexec workers produce is what iExec users decrypt.
// Usage: node decrypt.mjs ENC_ZIP PRIVATE_PEM OUT_ZIP
import { readFileSync, writeFileSync } from 'fs';
import { decryptResult } from 'iexec/utils';

const [enc, key, out] = process.argv.slice(2);
const plain = await decryptResult(readFileSync(enc), readFileSync(key));
writeFileSync(out, Buffer.from(plain));
