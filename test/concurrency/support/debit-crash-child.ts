/**
 * Child process of the crash test: debits one wallet over and over on PostgreSQL until it is killed.
 * argv: tenantId environmentId walletId mode, where mode `pause` stops forever inside the first debit's
 * transaction (after its lots are drained and its entry appended, before commit) and `loop` never pauses.
 */
import { createServices } from '../../../src/app.ts';
import { systemClock } from '../../../src/platform/clock.ts';
import { openDatabase } from '../../../src/platform/db/database.ts';

const [tenantId, environmentId, walletId, mode] = process.argv.slice(2) as [string, string, string, string];
const database = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: '' });
const services = createServices(database, systemClock);
services.wallets.onEvent(async (_tx, _scope, event) => {
  if (mode === 'pause' && event.type === 'wallet.transaction.created') {
    process.stdout.write('inside-debit\n');
    await new Promise(() => {});
  }
});
process.stdout.write('ready\n');
const scope = { tenantId, environmentId };
for (let i = 0; ; i++) {
  await services.wallets.debitWallet(scope, walletId, {
    credits: '0.7',
    transaction_reason: 'MANUAL_BALANCE_DEBIT',
    idempotency_key: `crash-${process.pid}-${i}`,
  });
  if (i === 0) process.stdout.write('first-committed\n');
}
