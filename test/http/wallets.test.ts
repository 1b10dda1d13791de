import assert from 'node:assert/strict';
import { Decimal } from 'decimal.js';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { assertEnvelope, type Harness, startHarness, type TestTenant } from '../support/harness.ts';

const clock = new TestClock('2026-03-01T00:00:00Z');
let h: Harness;
const events: Array<{ tenantId: string; type: string; body: Record<string, unknown> }> = [];
before(async () => {
  h = await startHarness({ clock });
  h.services.wallets.onEvent(async (tx, scope, event) => {
    // Runs inside the business transaction: prove the tx is usable.
    await tx.selectFrom('wallets').select('id').limit(1).execute();
    events.push({ tenantId: scope.tenantId, type: event.type, body: event as unknown as Record<string, unknown> });
  });
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

const eventsOf = (tenant: TestTenant) => events.filter((e) => e.tenantId === tenant.tenantId);

async function debit(tenant: TestTenant, walletId: string, credits: string, key: string) {
  return h.request(tenant, 'POST', `/v1/wallets/${walletId}/debit`, {
    credits,
    transaction_reason: 'MANUAL_BALANCE_DEBIT',
    idempotency_key: key,
  });
}

async function transactions(tenant: TestTenant, walletId: string, query = '') {
  const response = await h.request(tenant, 'GET', `/v1/wallets/${walletId}/transactions${query}`);
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

describe('POST /v1/wallets (more)', () => {
  it('resolves the customer by external_customer_id and 404s for unknown or other-tenant customers', async () => {
    const tenant = await h.newTenant();
    const other = await h.newTenant();
    const customer = await createCustomer(tenant, 'ext-wallet');
    const byExternal = await h.request(tenant, 'POST', '/v1/wallets', {
      external_customer_id: 'ext-wallet',
      currency: 'eur',
    });
    assert.equal(byExternal.statusCode, 200, byExternal.body);
    assert.equal(byExternal.json().customer_id, customer.id);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/wallets', { customer_id: 'cust_missing', currency: 'usd' }),
      404,
      'not_found',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/wallets', { external_customer_id: 'nobody', currency: 'usd' }),
      404,
      'not_found',
    );
    assertEnvelope(
      await h.request(other, 'POST', '/v1/wallets', { customer_id: customer.id, currency: 'usd' }),
      404,
      'not_found',
    );
  });

  it('allows one active wallet per customer, currency and type (409), and a POST_PAID beside a PRE_PAID', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(tenant);
    const first = await h.request(tenant, 'POST', '/v1/wallets', { customer_id: customer.id, currency: 'usd' });
    assert.equal(first.statusCode, 200);
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/wallets', { customer_id: customer.id, currency: 'USD' }),
      409,
      'already_exists',
    );
    const postpaid = await h.request(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      wallet_type: 'POST_PAID',
    });
    assert.equal(postpaid.statusCode, 200, postpaid.body);
    assert.deepEqual(postpaid.json().config, { allowed_price_types: ['ALL'] });
    assert.equal(postpaid.json().name, 'Postpaid Wallet - USD');
  });

  it('accepts the older seed fields: PROMOTIONAL, name, config and auto_topup_* flat fields', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, {
      wallet_type: 'PROMOTIONAL',
      name: 'Promo',
      config: { allowed_price_types: ['ALL'] },
      auto_topup_trigger: 'balance_below_threshold',
      auto_topup_min_balance: 5,
      auto_topup_amount: 50,
      metadata: { k: 'v' },
      description: 'promo wallet',
    });
    assert.equal(wallet.wallet_type, 'PROMOTIONAL');
    assert.equal(wallet.name, 'Promo');
    assert.deepEqual(wallet.config, { allowed_price_types: ['ALL'] });
    assert.deepEqual(wallet.auto_topup, { enabled: true, threshold: '5', amount: '50', invoicing: false });
    assert.deepEqual(wallet.metadata, { k: 'v' });
  });

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['a currency that is not 3 letters', { currency: 'usdx' }, 'validation_error'],
    ['an unknown wallet_type', { wallet_type: 'GIFT' }, 'validation_error'],
    ['a negative conversion_rate', { conversion_rate: '-1' }, 'validation_error'],
    ['a zero topup_conversion_rate', { topup_conversion_rate: '0' }, 'validation_error'],
    [
      'a past initial expiry (YYYYMMDD)',
      { initial_credits_to_load: 5, initial_credits_to_load_expiry_date: 20200101 },
      'validation_error',
    ],
    [
      'a past initial expiry (UTC)',
      { initial_credits_to_load: 5, initial_credits_expiry_date_utc: '2020-01-01T00:00:00Z' },
      'validation_error',
    ],
    [
      'an impossible YYYYMMDD',
      { initial_credits_to_load: 5, initial_credits_to_load_expiry_date: 20271345 },
      'validation_error',
    ],
    [
      'a warning threshold without critical',
      { alert_settings: { warning: { threshold: '5', condition: 'below' } } },
      'validation_error',
    ],
    ['alert_enabled without thresholds', { alert_settings: { alert_enabled: true } }, 'validation_error'],
    [
      'misordered thresholds',
      {
        alert_settings: {
          critical: { threshold: '10', condition: 'below' },
          warning: { threshold: '5', condition: 'below' },
        },
      },
      'validation_error',
    ],
    ['auto_topup without amount', { auto_topup: { threshold: '1', invoicing: false } }, 'validation_error'],
    [
      'auto_topup with a bad cooldown unit',
      { auto_topup: { threshold: '1', amount: '5', invoicing: false, cooldown: { value: 1, unit: 'week' } } },
      'validation_error',
    ],
    ['an unknown allowed price type', { config: { allowed_price_types: ['SOME'] } }, 'validation_error'],
    ['a decimal that is not one', { initial_credits_to_load: 'lots' }, 'validation_error'],
    ['an unknown price unit', { price_unit: 'btc' }, 'not_found'],
  ];
  for (const [name, body, code] of invalid) {
    it(`rejects ${name} and writes nothing`, async () => {
      const tenant = await h.newTenant();
      const customer = await createCustomer(tenant);
      const response = await h.request(tenant, 'POST', '/v1/wallets', {
        customer_id: customer.id,
        currency: 'usd',
        ...body,
      });
      assertEnvelope(response, code === 'not_found' ? 404 : 400, code);
      const list = (await h.request(tenant, 'GET', '/v1/wallets')).json();
      assert.equal(list.pagination.total, 0);
    });
  }
});

describe('GET/PUT /v1/wallets/{id}', () => {
  it('gets a wallet with the breakdown, and 404s from another tenant', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { initial_credits_to_load: '3' });
    await topUp(tenant, wallet.id, { credits_to_add: '7' });
    const got = await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}?expand=credits_available_breakdown`);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.json().credits_available_breakdown, { purchased: '7', free: '3' });
    assertEnvelope(await h.request(await h.newTenant(), 'GET', `/v1/wallets/${wallet.id}`), 404, 'not_found');
    assertEnvelope(await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}?expand=customer`), 400, 'validation_error');
  });

  it('updates name, metadata, config, alert settings and merges auto_topup; 404 cross-tenant', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, {
      auto_topup: { enabled: false, threshold: '1', amount: '10', invoicing: false },
    });
    const response = await h.request(tenant, 'PUT', `/v1/wallets/${wallet.id}`, {
      name: 'Main',
      metadata: { team: 'a' },
      config: { allowed_price_types: ['ALL'] },
      auto_topup: { amount: '25', cooldown: { value: 2, unit: 'hour' } },
      alert_settings: { critical: { threshold: 1, condition: 'below' }, alert_enabled: false },
    });
    assert.equal(response.statusCode, 200, response.body);
    const updated = response.json();
    assert.equal(updated.name, 'Main');
    assert.deepEqual(updated.metadata, { team: 'a' });
    assert.deepEqual(updated.config, { allowed_price_types: ['ALL'] });
    assert.deepEqual(updated.auto_topup, {
      enabled: false,
      threshold: '1',
      amount: '25',
      invoicing: false,
      cooldown: { value: 2, unit: 'hour' },
    });
    assert.deepEqual(updated.alert_settings, {
      critical: { threshold: '1', condition: 'below' },
      alert_enabled: false,
    });
    assert.ok(eventsOf(tenant).some((e) => e.type === 'wallet.updated'));
    assertEnvelope(
      await h.request(await h.newTenant(), 'PUT', `/v1/wallets/${wallet.id}`, { name: 'x' }),
      404,
      'not_found',
    );
    assertEnvelope(
      await h.request(tenant, 'PUT', `/v1/wallets/${wallet.id}`, { config: { allowed_price_types: ['NOPE'] } }),
      400,
      'validation_error',
    );
  });
});

describe('GET /v1/wallets and POST /v1/wallets/search', () => {
  it('pages properly and filters by wallet_status and wallet_ids', async () => {
    const tenant = await h.newTenant();
    const a = await createWallet(tenant);
    const b = await createWallet(tenant);
    const c = await createWallet(tenant);
    await h.request(tenant, 'POST', `/v1/wallets/${c.id}/terminate`);
    const page = (await h.request(tenant, 'GET', '/v1/wallets?limit=1&offset=1')).json();
    assert.deepEqual(page.pagination, { total: 3, limit: 1, offset: 1 });
    assert.equal(page.items.length, 1);
    assert.equal(page.items[0].id, b.id);
    const active = (await h.request(tenant, 'POST', '/v1/wallets/search', { status: 'active' })).json();
    assert.deepEqual(active.items.map((w: { id: string }) => w.id).sort(), [a.id, b.id].sort());
    const byIds = (await h.request(tenant, 'GET', `/v1/wallets?wallet_ids=${a.id},${c.id}`)).json();
    assert.equal(byIds.pagination.total, 2);
    const other = (await h.request(await h.newTenant(), 'GET', '/v1/wallets')).json();
    assert.equal(other.pagination.total, 0);
    assertEnvelope(await h.request(tenant, 'GET', '/v1/wallets?limit=0'), 400, 'validation_error');
    assertEnvelope(await h.request(tenant, 'POST', '/v1/wallets/search', { status: 'gone' }), 400, 'validation_error');
  });
});

describe('customer wallet lists', () => {
  it('GET /v1/customers/{id}/wallets returns a bare array of active wallets; 404 cross-tenant', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(tenant);
    const usd = (await h.request(tenant, 'POST', '/v1/wallets', { customer_id: customer.id, currency: 'usd' })).json();
    const eur = (await h.request(tenant, 'POST', '/v1/wallets', { customer_id: customer.id, currency: 'eur' })).json();
    await h.request(tenant, 'POST', `/v1/wallets/${eur.id}/terminate`);
    const response = await h.request(tenant, 'GET', `/v1/customers/${customer.id}/wallets`);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(
      response.json().map((w: { id: string }) => w.id),
      [usd.id],
    );
    assertEnvelope(
      await h.request(await h.newTenant(), 'GET', `/v1/customers/${customer.id}/wallets`),
      404,
      'not_found',
    );
  });

  it('GET /v1/customers/wallets by id or lookup_key, with real-time balance and breakdown', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(tenant, 'lookup-me');
    const wallet = (
      await h.request(tenant, 'POST', '/v1/wallets', {
        customer_id: customer.id,
        currency: 'usd',
        conversion_rate: '2',
        initial_credits_to_load: '5',
      })
    ).json();
    const plain = (await h.request(tenant, 'GET', `/v1/customers/wallets?id=${customer.id}`)).json();
    assert.equal(plain.length, 1);
    assert.equal(plain[0].id, wallet.id);
    assert.equal(plain[0].is_cached_fallback, false);
    assert.equal(plain[0].real_time_balance, undefined);
    const live = (
      await h.request(
        tenant,
        'GET',
        '/v1/customers/wallets?lookup_key=lookup-me&include_real_time_balance=true&expand=credits_available_breakdown',
      )
    ).json();
    assert.equal(live[0].real_time_balance, '10');
    assert.equal(live[0].real_time_credit_balance, '5');
    assert.equal(live[0].current_period_usage, '0');
    assert.equal(live[0].unpaid_invoices_amount, '0');
    assert.equal(live[0].is_cached_fallback, false);
    assert.deepEqual(live[0].credits_available_breakdown, { purchased: '0', free: '5' });
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers/wallets'), 400, 'validation_error');
    assertEnvelope(
      await h.request(tenant, 'GET', `/v1/customers/wallets?id=${customer.id}&lookup_key=lookup-me`),
      400,
      'validation_error',
    );
    assertEnvelope(await h.request(tenant, 'GET', '/v1/customers/wallets?lookup_key=nobody'), 404, 'not_found');
    assertEnvelope(
      await h.request(await h.newTenant(), 'GET', `/v1/customers/wallets?id=${customer.id}`),
      404,
      'not_found',
    );
  });
});

describe('POST /v1/wallets/{id}/top-up (more)', () => {
  it('converts a money amount at topup_conversion_rate and records every transaction field', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { conversion_rate: '2', topup_conversion_rate: '4' });
    const result = await topUp(tenant, wallet.id, {
      amount: '10',
      expiry_date_utc: '2026-06-01T00:00:00Z',
      priority: 3,
      idempotency_key: 'buy-1',
      description: 'top up',
      metadata: { order: '42' },
    });
    const t = result.wallet_transaction;
    assert.equal(t.type, 'credit');
    assert.equal(t.credit_amount, '2.5');
    assert.equal(t.amount, '10');
    assert.equal(t.credit_balance_before, '0');
    assert.equal(t.credit_balance_after, '2.5');
    assert.equal(t.credits_available, '2.5');
    assert.equal(t.transaction_status, 'completed');
    assert.equal(t.transaction_reason, 'PURCHASED_CREDIT_DIRECT');
    assert.equal(t.reference_type, 'EXTERNAL');
    assert.equal(t.reference_id, 'buy-1');
    assert.equal(t.idempotency_key, 'buy-1');
    assert.equal(t.priority, 3);
    assert.equal(t.expiry_date, '2026-06-01T00:00:00.000Z');
    assert.equal(t.topup_conversion_rate, '4');
    assert.equal(t.currency, 'usd');
    assert.deepEqual(t.metadata, { order: '42' });
    assert.equal(result.wallet.credit_balance, '2.5');
    assert.equal(result.wallet.balance, '5');
  });

  it('replays the same idempotency key with the original result, and 409s with other parameters', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    const first = await topUp(tenant, wallet.id, { credits_to_add: '5', idempotency_key: 'k' });
    const again = await topUp(tenant, wallet.id, { credits_to_add: '5', idempotency_key: 'k' });
    assert.equal(again.wallet_transaction.id, first.wallet_transaction.id);
    assert.equal(again.wallet.credit_balance, '5');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
        credits_to_add: '6',
        transaction_reason: 'PURCHASED_CREDIT_DIRECT',
        idempotency_key: 'k',
      }),
      409,
      'already_exists',
    );
    assert.equal((await transactions(tenant, wallet.id)).pagination.total, 1);
  });

  it('adds bonus credits as a child PURCHASED_CREDIT_BONUS lot', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    const result = await topUp(tenant, wallet.id, { credits_to_add: '100', bonus_credits_to_add: '10' });
    assert.equal(result.wallet.credit_balance, '110');
    const bonus = (await transactions(tenant, wallet.id, '?transaction_reason=PURCHASED_CREDIT_BONUS')).items;
    assert.equal(bonus.length, 1);
    assert.equal(bonus[0].parent_transaction_id, result.wallet_transaction.id);
    assert.equal(bonus[0].credit_amount, '10');
  });

  it('writes PURCHASED_CREDIT_INVOICED as pending until completePendingTopUp, bonus included', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const wallet = await createWallet(tenant);
    const result = await topUp(tenant, wallet.id, {
      credits_to_add: '50',
      bonus_credits_to_add: '5',
      transaction_reason: 'PURCHASED_CREDIT_INVOICED',
    });
    assert.equal(result.wallet_transaction.transaction_status, 'pending');
    assert.equal(result.wallet_transaction.credits_available, '0');
    assert.equal(result.wallet.credit_balance, '0');
    assert.equal((await debit(tenant, wallet.id, '1', 'd')).statusCode, 200);
    const completed = await h.database.db
      .transaction()
      .execute((tx) => h.services.wallets.completePendingTopUp(tx, scope, result.wallet_transaction.id));
    assert.equal(completed.transaction.transaction_status, 'completed');
    assert.equal(completed.transaction.credit_balance_before, '-1');
    assert.equal(completed.transaction.credit_balance_after, '49');
    assert.equal(completed.transaction.credits_available, '49');
    assert.equal(completed.wallet.credit_balance, '54');
    const again = await h.database.db
      .transaction()
      .execute((tx) => h.services.wallets.completePendingTopUp(tx, scope, result.wallet_transaction.id));
    assert.equal(again.wallet.credit_balance, '54');
    assert.ok(eventsOf(tenant).some((e) => e.type === 'wallet.transaction.updated'));
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ['an unknown reason', { credits_to_add: '1', transaction_reason: 'GIFT' }],
    ['a debit reason', { credits_to_add: '1', transaction_reason: 'MANUAL_BALANCE_DEBIT' }],
    ['zero credits and no amount', { credits_to_add: '0' }],
    ['negative credits', { credits_to_add: '-5' }],
    ['a past expiry', { credits_to_add: '1', expiry_date_utc: '2020-01-01T00:00:00Z' }],
    ['a negative priority', { credits_to_add: '1', priority: -1 }],
    ['a zero bonus', { credits_to_add: '1', bonus_credits_to_add: '0' }],
    ['checkout', { credits_to_add: '1', checkout: {} }],
  ];
  for (const [name, body] of invalid) {
    it(`rejects ${name} with 400 and writes nothing`, async () => {
      const tenant = await h.newTenant();
      const wallet = await createWallet(tenant);
      assertEnvelope(
        await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
          transaction_reason: 'PURCHASED_CREDIT_DIRECT',
          ...body,
        }),
        400,
        'validation_error',
      );
      assert.equal((await transactions(tenant, wallet.id)).pagination.total, 0);
    });
  }

  it('404s for a wallet of another tenant', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    assertEnvelope(
      await h.request(await h.newTenant(), 'POST', `/v1/wallets/${wallet.id}/top-up`, {
        credits_to_add: '1',
        transaction_reason: 'FREE_CREDIT_GRANT',
      }),
      404,
      'not_found',
    );
  });
});

describe('POST /v1/wallets/{id}/debit (more)', () => {
  it('lets a manual debit overdraw; the next credit repays the debt first', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    await topUp(tenant, wallet.id, { credits_to_add: '3' });
    const overdrawn = await debit(tenant, wallet.id, '5', 'over');
    assert.equal(overdrawn.statusCode, 200, overdrawn.body);
    assert.equal(overdrawn.json().credit_balance, '-2');
    const repaid = await topUp(tenant, wallet.id, { credits_to_add: '10' });
    assert.equal(repaid.wallet_transaction.credits_available, '8');
    assert.equal(repaid.wallet.credit_balance, '8');
    const debitEntry = (await transactions(tenant, wallet.id, '?type=debit')).items[0];
    assert.equal(debitEntry.transaction_reason, 'MANUAL_BALANCE_DEBIT');
    assert.equal(debitEntry.reference_type, 'REQUEST');
    assert.equal(debitEntry.conversion_rate, '1');
    assert.equal(debitEntry.credit_balance_before, '3');
    assert.equal(debitEntry.credit_balance_after, '-2');
  });

  it('refuses a non-manual debit beyond the usable credits with invalid_operation and writes nothing', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const wallet = await createWallet(tenant);
    await topUp(tenant, wallet.id, { credits_to_add: '3' });
    await assert.rejects(
      h.services.wallets.debitWallet(scope, wallet.id, {
        credits: '4',
        transaction_reason: 'CREDIT_ADJUSTMENT',
        idempotency_key: 'too-much',
      }),
      (e: { code?: string }) => e.code === 'invalid_operation',
    );
    const list = await transactions(tenant, wallet.id);
    assert.equal(list.pagination.total, 1);
    assert.equal(list.items[0].credits_available, '3');
  });

  it('replays a debit key, 409s on different parameters, 400s without a key, 404s cross-tenant', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { initial_credits_to_load: '10' });
    assert.equal((await debit(tenant, wallet.id, '4', 'same')).json().credit_balance, '6');
    assert.equal((await debit(tenant, wallet.id, '4', 'same')).json().credit_balance, '6');
    assertEnvelope(await debit(tenant, wallet.id, '5', 'same'), 409, 'already_exists');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/debit`, {
        credits: '1',
        transaction_reason: 'MANUAL_BALANCE_DEBIT',
      }),
      400,
      'validation_error',
    );
    assertEnvelope(await debit(tenant, wallet.id, '0', 'zero'), 400, 'validation_error');
    assertEnvelope(await debit(await h.newTenant(), wallet.id, '1', 'x'), 404, 'not_found');
  });
});

describe('wallet transactions', () => {
  it('lists one wallet with filters, searches across wallets, and pages with the request offset', async () => {
    const tenant = await h.newTenant();
    const a = await createWallet(tenant);
    const b = await createWallet(tenant);
    await topUp(tenant, a.id, { credits_to_add: '1', priority: 1 });
    await topUp(tenant, a.id, { credits_to_add: '2' });
    await topUp(tenant, b.id, { credits_to_add: '3' });
    assert.equal((await transactions(tenant, a.id, '?priority=1')).items.length, 1);
    const page = await transactions(tenant, a.id, '?limit=1&offset=1');
    assert.deepEqual(page.pagination, { total: 2, limit: 1, offset: 1 });
    const all = (
      await h.request(tenant, 'POST', '/v1/wallets/transactions/search', { credits_available_gt: 1.5 })
    ).json();
    assert.equal(all.pagination.total, 2);
    const ofB = (
      await h.request(tenant, 'POST', '/v1/wallets/transactions/search?expand=wallet,customer', { id: b.id })
    ).json();
    assert.equal(ofB.items.length, 1);
    assert.equal(ofB.items[0].wallet.id, b.id);
    assert.equal(ofB.items[0].customer.id, b.customer_id);
    const filtered = (
      await h.request(tenant, 'POST', '/v1/wallets/transactions/search', {
        filters: [{ field: 'credit_amount', operator: 'gt', data_type: 'number', value: { number: 1 } }],
        sort: [{ field: 'credit_amount', direction: 'asc' }],
      })
    ).json();
    assert.deepEqual(
      filtered.items.map((t: { credit_amount: string }) => t.credit_amount),
      ['2', '3'],
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/wallets/transactions/search', { reference_type: 'EXTERNAL' }),
      400,
      'validation_error',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', '/v1/wallets/transactions/search', {
        filters: [{ field: 'nope', operator: 'eq', data_type: 'string', value: { string: 'x' } }],
      }),
      400,
      'validation_error',
    );
    assertEnvelope(await h.request(await h.newTenant(), 'GET', `/v1/wallets/${a.id}/transactions`), 404, 'not_found');
  });
});

describe('terminate, modify and real-time balance', () => {
  it('terminates: debits the remainder, closes, refuses later top-ups, debits and a second terminate', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { initial_credits_to_load: '12' });
    const response = await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/terminate`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().message, 'wallet terminated successfully');
    assert.equal(response.json().wallet_status, 'closed');
    assert.equal(response.json().credit_balance, '0');
    const last = (await transactions(tenant, wallet.id, '?type=debit')).items[0];
    assert.equal(last.transaction_reason, 'WALLET_TERMINATION');
    assert.equal(last.credit_amount, '12');
    assertEnvelope(await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/terminate`), 400, 'invalid_operation');
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
        credits_to_add: '1',
        transaction_reason: 'FREE_CREDIT_GRANT',
      }),
      400,
      'invalid_operation',
    );
    assertEnvelope(await debit(tenant, wallet.id, '1', 'after-close'), 400, 'invalid_operation');
    assert.ok(eventsOf(tenant).some((e) => e.type === 'wallet.terminated'));
    assertEnvelope(
      await h.request(await h.newTenant(), 'POST', `/v1/wallets/${wallet.id}/terminate`),
      404,
      'not_found',
    );
  });

  it('modifies prepaid to postpaid, moving the credits; 409 when a postpaid exists; 400 otherwise', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { initial_credits_to_load: '8' });
    const response = await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/modify`, {
      modification_type: 'prepaid_to_postpaid',
    });
    assert.equal(response.statusCode, 200, response.body);
    const { original_wallet: original, new_wallet: created } = response.json();
    assert.equal(original.wallet_status, 'closed');
    assert.equal(original.credit_balance, '0');
    assert.equal(created.wallet_type, 'POST_PAID');
    assert.equal(created.credit_balance, '8');
    assert.equal(created.metadata.converted_from, wallet.id);
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/modify`, { modification_type: 'prepaid_to_postpaid' }),
      400,
      'invalid_operation',
    );
    const second = await h.request(tenant, 'POST', '/v1/wallets', { customer_id: wallet.customer_id, currency: 'usd' });
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${second.json().id}/modify`, {
        modification_type: 'prepaid_to_postpaid',
      }),
      409,
      'already_exists',
    );
    assertEnvelope(
      await h.request(tenant, 'POST', `/v1/wallets/${second.json().id}/modify`, { modification_type: 'other' }),
      400,
      'validation_error',
    );
  });

  it('answers the real-time balance with every field; 404 cross-tenant', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { conversion_rate: '0.5', initial_credits_to_load: '10' });
    const response = await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`);
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json();
    assert.equal(body.balance, '5');
    assert.equal(body.real_time_balance, '5');
    assert.equal(body.real_time_credit_balance, '10');
    assert.equal(body.current_period_usage, '0');
    assert.equal(body.unpaid_invoices_amount, '0');
    assert.equal(body.is_cached_fallback, false);
    assert.equal(typeof body.balance_updated_at, 'string');
    assertEnvelope(
      await h.request(await h.newTenant(), 'GET', `/v1/wallets/${wallet.id}/balance/real-time`),
      404,
      'not_found',
    );
  });

  it('subtracts what registered pending-charge providers report', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { initial_credits_to_load: '10' });
    h.services.wallets.registerPendingChargesProvider(async (_db, scope, row) =>
      scope.tenantId === tenant.tenantId && row.id === wallet.id
        ? { current_period_usage: new Decimal('2.5'), unpaid_invoices_amount: new Decimal('1') }
        : {},
    );
    const body = (await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`)).json();
    assert.equal(body.real_time_balance, '6.5');
    assert.equal(body.current_period_usage, '2.5');
    assert.equal(body.unpaid_invoices_amount, '1');
  });

  it('refuses to delete a customer that has an active wallet', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant);
    assertEnvelope(await h.request(tenant, 'DELETE', `/v1/customers/${wallet.customer_id}`), 400, 'invalid_operation');
    await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/terminate`);
    assert.equal((await h.request(tenant, 'DELETE', `/v1/customers/${wallet.customer_id}`)).statusCode, 204);
  });
});

describe('expiry, alerts and auto top-up', () => {
  it('expires exactly a lot’s remainder as CREDIT_EXPIRED once the clock passes its expiry and the 6 h grace', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const wallet = await createWallet(tenant);
    const start = clock.now();
    const expiring = await topUp(tenant, wallet.id, {
      credits_to_add: '10',
      priority: 0,
      expiry_date_utc: new Date(start.getTime() + 3_600_000).toISOString(),
    });
    await topUp(tenant, wallet.id, { credits_to_add: '5' });
    await debit(tenant, wallet.id, '4', 'use');
    try {
      assert.equal((await h.services.wallets.expireCredits({ scope })).expired, 0);
      clock.advance(3_600_001);
      // Past its expiry the lot is expired only after the reference's 6 h grace (WALLET_EXPIRY_GRACE_SECONDS).
      assert.equal((await h.services.wallets.expireCredits({ scope })).expired, 0);
      clock.advance(6 * 3_600_000);
      const run = await h.services.wallets.expireCredits({ scope });
      assert.ok(run.expired >= 1);
      const expired = (await transactions(tenant, wallet.id, '?transaction_reason=CREDIT_EXPIRED')).items;
      assert.equal(expired.length, 1);
      assert.equal(expired[0].credit_amount, '6');
      assert.equal(expired[0].metadata.expired_transaction_id, expiring.wallet_transaction.id);
      const after = (await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}`)).json();
      assert.equal(after.credit_balance, '5');
      assert.equal((await h.services.wallets.expireCredits({ scope })).expired, 0);
    } finally {
      clock.set(start);
    }
  });

  it('records alert transitions on both streams and emits dropped/recovered events', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const wallet = await createWallet(tenant, {
      initial_credits_to_load: '20',
      alert_settings: {
        critical: { threshold: '5', condition: 'below' },
        warning: { threshold: '10', condition: 'below' },
        alert_enabled: true,
      },
    });
    assert.equal((await debit(tenant, wallet.id, '12', 'a')).json().alert_state, 'warning');
    assert.equal((await debit(tenant, wallet.id, '4', 'b')).json().alert_state, 'in_alarm');
    const recovered = await topUp(tenant, wallet.id, { credits_to_add: '50' });
    assert.equal(recovered.wallet.alert_state, 'ok');
    const types = eventsOf(tenant)
      .map((e) => e.type)
      .filter((t) => t.includes('_balance.'));
    assert.deepEqual(types, [
      'wallet.credit_balance.dropped',
      'wallet.ongoing_balance.dropped',
      'wallet.credit_balance.recovered',
      'wallet.ongoing_balance.recovered',
    ]);
    const dropped = eventsOf(tenant).find((e) => e.type === 'wallet.ongoing_balance.dropped')?.body as {
      alert: Record<string, unknown>;
    };
    assert.equal(dropped.alert.state, 'in_alarm');
    assert.equal(dropped.alert.credit_balance, '4');
    assert.equal(dropped.alert.alert_type, 'low_ongoing_balance');
    const logs = await h.services.wallets.listAlertLogs(scope, wallet.id);
    assert.deepEqual(
      logs.filter((l) => l.alert_type === 'low_ongoing_balance').map((l) => l.state),
      ['warning', 'in_alarm', 'ok'],
    );
  });

  it('emits no balance alert while alerts are disabled', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, { initial_credits_to_load: '1' });
    await debit(tenant, wallet.id, '5', 'x');
    assert.equal(eventsOf(tenant).filter((e) => e.type.includes('_balance.')).length, 0);
    assert.deepEqual(
      eventsOf(tenant).map((e) => e.type),
      ['wallet.created', 'wallet.transaction.created', 'wallet.transaction.created'],
    );
  });

  it('auto tops up once per crossing and respects the cooldown', async () => {
    const tenant = await h.newTenant();
    const wallet = await createWallet(tenant, {
      initial_credits_to_load: '20',
      auto_topup: {
        enabled: true,
        threshold: '5',
        amount: '3',
        invoicing: false,
        cooldown: { value: 1, unit: 'hour' },
      },
    });
    const start = clock.now();
    try {
      // 20 → 4: crosses, one auto top-up of 3 → 7.
      assert.equal((await debit(tenant, wallet.id, '16', 'a')).json().credit_balance, '7');
      // 7 → 5 (≤ threshold) inside the cooldown: no top-up.
      assert.equal((await debit(tenant, wallet.id, '2', 'b')).json().credit_balance, '5');
      clock.advance(2 * 3_600_000);
      // After the cooldown, the balance is still at/below the threshold from the same crossing that began
      // at 5 → the wallet is armed (it went above after the first top-up), so it tops up once: 5 - 1 + 3 = 7.
      assert.equal((await debit(tenant, wallet.id, '1', 'c')).json().credit_balance, '7');
      // Drop far below: one top-up (3) that leaves it below the threshold; the next debit does not top up again.
      assert.equal((await debit(tenant, wallet.id, '7', 'd')).json().credit_balance, '0');
      clock.advance(2 * 3_600_000);
      assert.equal((await debit(tenant, wallet.id, '1', 'e')).json().credit_balance, '2');
      assert.equal((await debit(tenant, wallet.id, '1', 'f')).json().credit_balance, '1');
      const autos = (await transactions(tenant, wallet.id, '?type=credit')).items.filter(
        (t: { metadata: Record<string, string> }) => t.metadata.auto_topup === 'true',
      );
      assert.equal(autos.length, 3);
      assert.equal(autos[0].transaction_reason, 'PURCHASED_CREDIT_DIRECT');
    } finally {
      clock.set(start);
    }
  });
});

describe('environment isolation and invoiced auto top-up', () => {
  it("never lets another environment of the same tenant see or move a wallet's credits (404)", async () => {
    const tenant = await h.newTenant();
    const environment = await h.services.tenancy.createEnvironment(tenant.tenantId, {
      name: 'production',
      type: 'production',
    });
    const key = await h.services.tenancy.createApiKey(
      { tenantId: tenant.tenantId, environmentId: environment.id },
      { name: 'prod', type: 'private_key' },
    );
    const other: TestTenant = {
      tenantId: tenant.tenantId,
      environmentId: environment.id,
      apiKey: key.api_key,
      headers: { 'x-api-key': key.api_key },
    };
    const wallet = await createWallet(tenant, { initial_credits_to_load: '5' });
    assertEnvelope(await h.request(other, 'GET', `/v1/wallets/${wallet.id}`), 404, 'not_found');
    assertEnvelope(await debit(other, wallet.id, '5', 'steal'), 404, 'not_found');
    assertEnvelope(
      await h.request(other, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
        credits_to_add: '1',
        transaction_reason: 'FREE_CREDIT_GRANT',
      }),
      404,
      'not_found',
    );
    assertEnvelope(await h.request(other, 'GET', `/v1/wallets/${wallet.id}/balance/real-time`), 404, 'not_found');
    assertEnvelope(await h.request(other, 'GET', `/v1/wallets/${wallet.id}/transactions`), 404, 'not_found');
    assertEnvelope(await h.request(other, 'POST', `/v1/wallets/${wallet.id}/terminate`), 404, 'not_found');
    assertEnvelope(
      await h.request(other, 'POST', `/v1/wallets/${wallet.id}/modify`, { modification_type: 'prepaid_to_postpaid' }),
      404,
      'not_found',
    );
    const search = (await h.request(other, 'POST', '/v1/wallets/transactions/search', { id: wallet.id })).json();
    assert.equal(search.pagination.total, 0);
    assert.equal((await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}`)).json().credit_balance, '5');
  });

  it('an invoiced auto top-up stays pending, is not repeated while pending, and lands when completed', async () => {
    const tenant = await h.newTenant();
    const scope = { tenantId: tenant.tenantId, environmentId: tenant.environmentId };
    const wallet = await createWallet(tenant, {
      initial_credits_to_load: '10',
      auto_topup: { enabled: true, threshold: '5', amount: '20', invoicing: true },
    });
    assert.equal((await debit(tenant, wallet.id, '6', 'a')).json().credit_balance, '4');
    const pending = (await transactions(tenant, wallet.id, '?transaction_status=pending')).items;
    assert.equal(pending.length, 1);
    assert.equal(pending[0].transaction_reason, 'PURCHASED_CREDIT_INVOICED');
    assert.equal(pending[0].metadata.auto_topup, 'true');
    // Re-arm by updating the settings: still no second top-up while the first is pending.
    await h.request(tenant, 'PUT', `/v1/wallets/${wallet.id}`, { auto_topup: { amount: '20' } });
    await debit(tenant, wallet.id, '1', 'b');
    assert.equal((await transactions(tenant, wallet.id, '?transaction_status=pending')).items.length, 1);
    const done = await h.database.db
      .transaction()
      .execute((tx) => h.services.wallets.completePendingTopUp(tx, scope, pending[0].id));
    assert.equal(done.wallet.credit_balance, '23');
  });
});

describe('wallets in a custom price unit', () => {
  it('take the unit’s base currency and conversion rate from the catalog', async () => {
    const tenant = await h.newTenant();
    const customer = await createCustomer(tenant);
    const unit = await h.request(tenant, 'POST', '/v1/prices/units', {
      name: 'Credits',
      code: 'crd',
      symbol: 'C',
      base_currency: 'eur',
      conversion_rate: '0.25',
    });
    assert.equal(unit.statusCode, 201, unit.body);
    const response = await h.request(tenant, 'POST', '/v1/wallets', {
      customer_id: customer.id,
      currency: 'usd',
      price_unit: 'CRD',
      initial_credits_to_load: '10',
    });
    assert.equal(response.statusCode, 200, response.body);
    const wallet = response.json();
    assert.equal(wallet.currency, 'eur');
    assert.equal(new Decimal(wallet.conversion_rate).toString(), '0.25');
    assert.equal(new Decimal(wallet.credit_balance).toString(), '10');
    assert.equal(new Decimal(wallet.balance).toString(), '2.5');
  });
});
