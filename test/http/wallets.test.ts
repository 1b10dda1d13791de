import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

const clock = new TestClock('2026-03-01T00:00:00Z');
let h: Harness;
before(async () => {
  h = await startHarness({ clock });
});
after(async () => {
  await h.close();
});

async function createCustomer(tenant: TestTenant, externalId = `ext-${Math.random().toString(36).slice(2)}`) {
  const response = await h.request(tenant, 'POST', '/v1/customers', { external_id: externalId, name: 'Acme' });
  assert.equal(response.statusCode, 201, response.body);
  return response.json() as { id: string; external_id: string };
}

async function createWallet(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const customer = await createCustomer(tenant);
  const response = await h.request(tenant, 'POST', '/v1/wallets', {
    customer_id: customer.id,
    currency: 'USD',
    ...body,
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

async function topUp(tenant: TestTenant, walletId: string, body: Record<string, unknown>) {
  const response = await h.request(tenant, 'POST', `/v1/wallets/${walletId}/top-up`, {
    transaction_reason: 'PURCHASED_CREDIT_DIRECT',
    ...body,
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

describe('POST /v1/wallets', () => {
  it('creates a prepaid wallet with 200 and the reference defaults', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    assert.match(wallet.id, /^wallet_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(wallet.currency, 'usd');
    assert.equal(wallet.name, 'Prepaid Wallet - USD');
    assert.equal(wallet.wallet_type, 'PRE_PAID');
    assert.equal(wallet.wallet_status, 'active');
    assert.equal(wallet.balance, '0');
    assert.equal(wallet.credit_balance, '0');
    assert.equal(wallet.conversion_rate, '1');
    assert.equal(wallet.topup_conversion_rate, '1');
    assert.deepEqual(wallet.config, { allowed_price_types: ['USAGE'] });
    assert.equal(wallet.alert_state, 'ok');
    assert.equal(wallet.status, 'published');
    assert.equal(wallet.tenant_id, tenant.tenantId);
    assert.equal(wallet.environment_id, tenant.environmentId);
  });

  it('loads initial credits as a FREE_CREDIT_GRANT lot and prices the balance at conversion_rate', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, {
      conversion_rate: '2.5',
      initial_credits_to_load: 40,
      initial_credits_to_load_expiry_date: 20261231,
    });
    assert.equal(wallet.credit_balance, '40');
    assert.equal(wallet.balance, '100');
    const list = (await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}/transactions`)).json();
    assert.equal(list.items.length, 1);
    assert.equal(list.items[0].transaction_reason, 'FREE_CREDIT_GRANT');
    assert.equal(list.items[0].credits_available, '40');
    assert.equal(list.items[0].expiry_date, '2026-12-31T00:00:00.000Z');
  });
});

describe('POST /v1/wallets/{id}/top-up and /debit', () => {
  it('tops up, debits in drain order and refuses an overdraw with nothing written', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    await topUp(tenant, wallet.id, { credits_to_add: '10', priority: 2 });
    await topUp(tenant, wallet.id, { credits_to_add: '5', priority: 1 });
    const debit = await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/debit`, {
      credits: '7',
      transaction_reason: 'MANUAL_BALANCE_DEBIT',
      idempotency_key: 'd1',
    });
    assert.equal(debit.statusCode, 200, debit.body);
    assert.equal(debit.json().credit_balance, '8');
    const lots = (await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}/transactions?type=credit&order=asc`)).json()
      .items;
    assert.deepEqual(
      lots.map((l: { priority: number; credits_available: string }) => [l.priority, l.credits_available]),
      [
        [2, '8'],
        [1, '0'],
      ],
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/debit`, {
        credits: '1',
        transaction_reason: 'CREDIT_ADJUSTMENT',
        idempotency_key: 'd2',
      }),
      400,
      'validation_error',
    );
  });
});
