import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTransaction } from '../../src/platform/db/database.ts';
import { type Harness, startHarness } from '../support/harness.ts';
import { createCustomer, draft, draftLine, finalize, writeDraft } from '../support/invoices.ts';

/**
 * Invoice numbering, idempotent drafts and payments under real concurrency (PostgreSQL; PGlite has one connection,
 * so nothing there runs at the same time).
 */
const skip = process.env.DATABASE_URL
  ? false
  : 'needs PostgreSQL: set DATABASE_URL to run the invoice concurrency tests';

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(async () => {
  if (!skip) await h.close();
});

describe('invoices under concurrency', { skip }, () => {
  it('numbers 20 concurrent finalizations 00001..00020 with no gap and no duplicate, rollbacks included', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const drafts = [];
    for (let i = 0; i < 26; i++)
      drafts.push(await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '1' })])));
    const committed = drafts.slice(0, 20);
    const rolledBack = drafts.slice(20);
    const results = await Promise.allSettled([
      ...committed.map((d) => h.request(tenant, 'POST', `/v1/invoices/${d.id}/finalize`)),
      // Finalizations that take a number and then fail: their numbers must come back.
      ...rolledBack.map((d) =>
        withTransaction(h.database.db, async (tx) => {
          await h.services.invoices.finalizeInvoiceInTransaction(tx, tenant, d.id);
          throw new Error('rolled back on purpose');
        }),
      ),
    ]);
    for (const result of results.slice(0, 20)) {
      assert.equal(result.status, 'fulfilled');
      assert.equal((result as PromiseFulfilledResult<{ statusCode: number }>).value.statusCode, 200);
    }
    for (const result of results.slice(20)) assert.equal(result.status, 'rejected');
    const rows = await h.database.db
      .selectFrom('invoices')
      .select(['id', 'invoice_number', 'invoice_status'])
      .where('tenant_id', '=', tenant.tenantId)
      .execute();
    const numbers = rows.filter((r) => r.invoice_number).map((r) => r.invoice_number as string);
    const bucket = numbers[0]?.slice(0, 11);
    assert.deepEqual(
      numbers.sort(),
      Array.from({ length: 20 }, (_, i) => `${bucket}${String(i + 1).padStart(5, '0')}`),
    );
    assert.equal(rows.filter((r) => r.invoice_status === 'DRAFT').length, 6);
    // The next finalization continues the sequence.
    const next = await finalize(h, tenant, rolledBack[0]!.id);
    assert.equal(next.invoice_number, `${bucket}00021`);
  });

  it('writes one invoice when the same draft key is written 10 times at once', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const written = await Promise.all(
      Array.from({ length: 10 }, () =>
        writeDraft(
          h,
          tenant,
          draft(customer.id, [draftLine({ amount: '5' })], { idempotency_key: 'subs_1:2026-08-01' }),
        ),
      ),
    );
    assert.equal(new Set(written.map((w) => w.id)).size, 1);
    const count = await h.database.db
      .selectFrom('invoices')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('tenant_id', '=', tenant.tenantId)
      .executeTakeFirstOrThrow();
    assert.equal(Number(count.n), 1);
  });

  it('never pays an invoice beyond its amount when payments race', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(h, tenant);
    const invoice = await writeDraft(h, tenant, draft(customer.id, [draftLine({ amount: '20' })]));
    await finalize(h, tenant, invoice.id);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        h.request(tenant, 'POST', '/v1/payments', {
          amount: '3',
          currency: 'usd',
          destination_type: 'INVOICE',
          destination_id: invoice.id,
          payment_method_type: 'OFFLINE',
        }),
      ),
    );
    const ok = responses.filter((r) => r.statusCode === 201);
    assert.equal(ok.length, 6, responses.map((r) => r.statusCode).join(','));
    assert.ok(responses.filter((r) => r.statusCode !== 201).every((r) => r.statusCode === 400));
    const after = (await h.request(tenant, 'GET', `/v1/invoices/${invoice.id}`)).json();
    assert.equal(after.amount_paid, '18');
    assert.equal(after.amount_remaining, '2');
  });
});
