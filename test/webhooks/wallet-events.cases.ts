import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../src/platform/clock.ts';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';
import { assertMatchesSchema, referenceWebhooks } from '../support/reference-schemas.ts';
import { type Receiver, startReceiver } from '../support/webhook-receiver.ts';

/**
 * Loaded by delivery.test.ts, not run as its own file: the delivery worker serves every tenant of the database, so
 * on a shared PostgreSQL two test processes driving workers would take each other's messages. One process drives
 * all delivery tests.
 *
 * Wallet payloads are checked against the reference document as `webhook-wallet.*` documents them: the wallet as the
 * full WalletResponse and the customer as CustomerResponse (the OpenAPI file's WalletWebhookPayload lists a smaller
 * wallet and no customer; the documentation pages embed both).
 */
const WALLET_OVERRIDES = { wallet: 'WalletResponse', customer: 'CustomerResponse' };

const clock = new TestClock(new Date());
let h: Harness;
let receiver: Receiver;
before(async () => {
  // The delivery worker (runOnce) claims due messages of every tenant: isolated, so that on a shared PostgreSQL
  // database it never attempts other test files' endpoints.
  h = await startHarness({ clock, isolated: true });
  receiver = await startReceiver();
});
after(async () => {
  await receiver.close();
  await h.close();
});

interface Payload {
  event_type: string;
  wallet?: Record<string, unknown>;
  customer?: Record<string, unknown>;
  alert?: Record<string, unknown>;
  transaction?: Record<string, unknown>;
  updated_transaction?: Record<string, unknown>;
}

/** Sets up a tenant with an endpoint on the receiver; `events()` delivers and returns what this tenant received. */
async function setUp(eventTypes: string[] = []) {
  const tenant = await h.newTenant();
  const response = await h.request(tenant, 'POST', '/v1/webhook-endpoints', {
    url: `${receiver.url}?tenant=${tenant.tenantId}`,
    event_types: eventTypes,
  });
  assert.equal(response.statusCode, 201, response.body);
  const endpoint = response.json() as { id: string; secret: string };
  const customer = await h.request(tenant, 'POST', '/v1/customers', {
    external_id: `ext-${Math.random().toString(36).slice(2)}`,
    name: 'Acme',
  });
  assert.equal(customer.statusCode, 201, customer.body);
  return {
    tenant,
    endpoint,
    customerId: customer.json().id as string,
    async events(): Promise<Payload[]> {
      await h.services.webhooks.delivery.runOnce();
      const messages = await h.database.db
        .selectFrom('webhook_messages')
        .select('id')
        .where('endpoint_id', '=', endpoint.id)
        .execute();
      const ids = new Set(messages.map((m) => m.id));
      return receiver.received
        .filter((r) => ids.has(r.id))
        .map((r) => receiver.verify(endpoint.secret, r) as unknown as Payload);
    },
  };
}

function check(payload: Payload) {
  const schema = referenceWebhooks.events[payload.event_type];
  assert.ok(schema, `no reference schema for ${payload.event_type}`);
  assertMatchesSchema(payload, schema, payload.wallet ? WALLET_OVERRIDES : {});
}

async function call(tenant: TestTenant, method: 'POST' | 'PUT', url: string, body?: unknown) {
  const response = await h.request(tenant, method, url, body);
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

describe('wallet webhooks', () => {
  it('sends wallet.created|updated|terminated and wallet.transaction.created with the documented payloads', async () => {
    const { tenant, customerId, events } = await setUp();
    const wallet = await call(tenant, 'POST', '/v1/wallets', {
      customer_id: customerId,
      currency: 'USD',
      name: 'Prepaid',
      auto_topup: { enabled: false, threshold: '2.5', amount: '10', invoicing: false },
    });
    await call(tenant, 'PUT', `/v1/wallets/${wallet.id}`, { name: 'Renamed' });
    await call(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
      credits_to_add: '12.5',
      transaction_reason: 'PURCHASED_CREDIT_DIRECT',
    });
    await call(tenant, 'POST', `/v1/wallets/${wallet.id}/terminate`);

    const payloads = (await events()).filter((p) => p.event_type !== 'customer.created');
    const types = payloads.map((p) => p.event_type);
    for (const type of ['wallet.created', 'wallet.updated', 'wallet.transaction.created', 'wallet.terminated']) {
      assert.ok(types.includes(type), `${type} in ${types.join(', ')}`);
    }
    for (const payload of payloads) check(payload);

    const created = payloads.find((p) => p.event_type === 'wallet.created')!;
    assert.equal(created.wallet!.id, wallet.id);
    assert.equal(created.wallet!.name, 'Prepaid'); // the state when it was created
    assert.equal(created.wallet!.credit_balance, '0');
    assert.equal(created.customer!.id, customerId);
    assert.equal(created.customer!.external_id !== undefined, true);
    assert.equal('alert' in created, false);
    // auto_topup amounts are JSON numbers in the reference, written with the decimal's exact digits.
    assert.deepEqual(created.wallet!.auto_topup, { enabled: false, threshold: 2.5, amount: 10, invoicing: false });

    assert.equal(payloads.find((p) => p.event_type === 'wallet.updated')!.wallet!.name, 'Renamed');
    const topUp = payloads.find((p) => p.event_type === 'wallet.transaction.created')!;
    assert.equal(topUp.transaction!.wallet_id, wallet.id);
    assert.equal(topUp.transaction!.type, 'credit');
    assert.equal(topUp.transaction!.credit_amount, '12.5');
    assert.equal(topUp.transaction!.credit_balance_after, '12.5');
    assert.equal(topUp.transaction!.transaction_reason, 'PURCHASED_CREDIT_DIRECT');
    const terminated = payloads.find((p) => p.event_type === 'wallet.terminated')!;
    assert.equal(terminated.wallet!.wallet_status, 'closed');
  });

  it('sends dropped when the balance crosses the critical threshold and recovered when it comes back, not while below', async () => {
    const { tenant, customerId, events } = await setUp([
      'wallet.credit_balance.dropped',
      'wallet.credit_balance.recovered',
      'wallet.ongoing_balance.dropped',
      'wallet.ongoing_balance.recovered',
    ]);
    const wallet = await call(tenant, 'POST', '/v1/wallets', {
      customer_id: customerId,
      currency: 'USD',
      initial_credits_to_load: '10',
      alert_settings: { alert_enabled: true, critical: { threshold: '5', condition: 'below' } },
    });
    const debit = (credits: string, key: string) =>
      call(tenant, 'POST', `/v1/wallets/${wallet.id}/debit`, {
        credits,
        transaction_reason: 'MANUAL_BALANCE_DEBIT',
        idempotency_key: key,
      });
    await debit('3', 'd1'); // 7: above the threshold
    assert.deepEqual(await events(), []);

    await debit('3', 'd2'); // 4: crosses below 5
    const dropped = await events();
    assert.deepEqual(dropped.map((p) => p.event_type).sort(), [
      'wallet.credit_balance.dropped',
      'wallet.ongoing_balance.dropped',
    ]);
    for (const payload of dropped) {
      check(payload);
      assert.equal(payload.alert!.state, 'in_alarm');
      assert.equal(payload.alert!.credit_balance, 4);
      assert.equal(payload.wallet!.credit_balance, '4');
      assert.equal(payload.customer!.id, customerId);
    }
    assert.deepEqual(dropped.map((p) => p.alert!.alert_type).sort(), ['low_credit_balance', 'low_ongoing_balance']);

    await debit('1', 'd3'); // 3: still below, nothing new
    assert.equal((await events()).length, 2);

    await call(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
      credits_to_add: '10',
      transaction_reason: 'PURCHASED_CREDIT_DIRECT',
    }); // 13: recovered
    const all = await events();
    const recovered = all.slice(2);
    assert.deepEqual(recovered.map((p) => p.event_type).sort(), [
      'wallet.credit_balance.recovered',
      'wallet.ongoing_balance.recovered',
    ]);
    for (const payload of recovered) {
      check(payload);
      assert.equal(payload.alert!.state, 'ok');
      assert.equal(payload.alert!.credit_balance, 13);
    }
  });

  it('sends nothing for a wallet operation whose transaction rolled back after the event was enqueued', async () => {
    const { tenant, customerId, events } = await setUp(['wallet.transaction.created']);
    const wallet = await call(tenant, 'POST', '/v1/wallets', { customer_id: customerId, currency: 'USD' });
    // Another listener, run after the webhook one in the same transaction, fails: the whole top-up rolls back.
    h.services.wallets.onEvent(async (_tx, _scope, event) => {
      if (event.type === 'wallet.transaction.created' && event.wallet.id === wallet.id) throw new Error('refused');
    });
    const refused = await h.request(tenant, 'POST', `/v1/wallets/${wallet.id}/top-up`, {
      credits_to_add: '5',
      transaction_reason: 'PURCHASED_CREDIT_DIRECT',
    });
    assert.equal(refused.statusCode, 500, refused.body);
    const after = await h.request(tenant, 'GET', `/v1/wallets/${wallet.id}`);
    assert.equal(after.json().credit_balance, '0');
    assert.deepEqual(await events(), []);
  });
});
