import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Decimal } from 'decimal.js';
import { sql } from 'kysely';
import { type Harness, startHarness } from '../support/harness.ts';

/** A process killed in the middle of a debit leaves the whole debit or none of it (PostgreSQL). */
const skip = process.env.DATABASE_URL ? false : 'needs PostgreSQL: set DATABASE_URL to run the wallet crash tests';
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'debit-crash-child.ts');

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  if (!skip) await h.close();
});

async function walletWithLots() {
  const tenant = await h.newTenant();
  const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
  const customer = await h.services.customers.createCustomer(scope, { external_id: 'crash', name: 'crash' });
  const wallet = await h.services.wallets.createWallet(scope, { customer_id: customer.id, currency: 'usd' });
  for (let i = 0; i < 5; i++) {
    await h.services.wallets.topUpWallet(scope, wallet.id, {
      credits_to_add: '1',
      transaction_reason: 'FREE_CREDIT_GRANT',
      priority: i % 2,
    });
  }
  return { scope, wallet };
}

/** Runs the child until it prints `until`, then SIGKILLs it (optionally after a delay). */
async function runAndKill(args: string[], until: string, delayMs = 0): Promise<void> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(until)) {
        setTimeout(() => {
          proc.kill('SIGKILL');
          resolve();
        }, delayMs);
      }
    });
    proc.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited early: ${code}`));
    });
  });
  await new Promise((resolve) =>
    proc.exitCode !== null || proc.signalCode ? resolve(null) : proc.once('exit', resolve),
  );
}

async function ledger(walletId: string) {
  // The killed backend's transaction is rolled back by PostgreSQL; wait until its locks are gone.
  await sql`select id from wallets where id = ${walletId} for update`.execute(h.database.db);
  const result = await sql<{ net: string; open: string; credits: string; debits: string }>`
    select coalesce(sum(case when t.type = 'credit' then t.credit_amount else -t.credit_amount end), 0) as net,
           coalesce(sum(t.credits_available) filter (where t.type = 'credit'), 0) as open,
           count(*) filter (where t.type = 'debit') as debits,
           max(w.credit_balance) as credits
      from wallets w join wallet_transactions t on t.wallet_id = w.id and t.transaction_status = 'completed'
     where w.id = ${walletId}`.execute(h.database.db);
  return result.rows[0] as { net: string; open: string; credits: string; debits: string };
}

describe('a crash in the middle of a debit', { skip }, () => {
  it('leaves none of a debit killed before its commit', async () => {
    const { scope, wallet } = await walletWithLots();
    await runAndKill([scope.tenantId, scope.environmentId, wallet.id, 'pause'], 'inside-debit', 100);
    const after = await ledger(wallet.id);
    assert.equal(after.debits, '0', 'no debit entry survives');
    assert.equal(new Decimal(after.credits).toFixed(), '5', 'the balance is untouched');
    assert.equal(new Decimal(after.open).toFixed(), '5', 'no lot was drained');
  });

  it('leaves whole debits only when killed at a random moment of a debit loop', async () => {
    const { scope, wallet } = await walletWithLots();
    await runAndKill([scope.tenantId, scope.environmentId, wallet.id, 'loop'], 'first-committed', Math.random() * 300);
    const after = await ledger(wallet.id);
    const debits = Number(after.debits);
    assert.ok(debits >= 1);
    const expected = new Decimal(5).minus(new Decimal('0.7').times(debits));
    assert.equal(new Decimal(after.credits).toFixed(), expected.toFixed(), 'balance = 5 − 0.7 × committed debits');
    assert.equal(new Decimal(after.net).toFixed(), expected.toFixed(), 'sum of entries = credit_balance');
    assert.equal(new Decimal(after.open).toFixed(), Decimal.max(0, expected).toFixed(), 'open lots match');
  });
});
