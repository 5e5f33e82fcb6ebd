// Writes an operator-mode NATS setup with NATS's own JWT library
// (@nats-io/jwt, @nats-io/nkeys): `auth.conf` (operator, system account and
// an account with JetStream, preloaded into a memory resolver) and
// `node.creds` (a user of that account, in the `.creds` format `nsc` writes).
// Used by tests/it/cluster.rs: node nats-creds.mjs DIR
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeOperator, encodeAccount, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createOperator, createAccount, createUser } from '@nats-io/nkeys';

const dir = process.argv[2];
const operator = createOperator();
const system = createAccount();
const account = createAccount();
const user = createUser();
const opJwt = await encodeOperator('switchboard-test', operator);
const sysJwt = await encodeAccount('SYS', system, {}, { signer: operator });
// No limits: NATS reads a missing limit as zero.
const jetstream = {
  subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1, wildcards: true,
  mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
};
const accJwt = await encodeAccount('SB', account, { limits: jetstream }, { signer: operator });
const userJwt = await encodeUser('node', user, account);
const sysPub = system.getPublicKey();
const accPub = account.getPublicKey();
writeFileSync(join(dir, 'auth.conf'), [
  `operator: "${opJwt}"`,
  `system_account: "${sysPub}"`,
  'resolver: MEMORY',
  `resolver_preload: { "${sysPub}": "${sysJwt}", "${accPub}": "${accJwt}" }`,
  '',
].join('\n'));
writeFileSync(join(dir, 'node.creds'), fmtCreds(userJwt, user));
