import assert from 'node:assert/strict';
import type { Harness, TestTenant } from './harness.ts';

/** The parts of a subscription webhook payload the tests read. */
export type WebhookPayload = Record<string, unknown> & {
  event_type: string;
  subscription: {
    id: string;
    plan_id: string;
    subscription_status: string;
    pause_status: string;
    cancel_at_period_end: boolean;
    customer: { external_id: string };
  };
};

/** Subscription test fixtures: a tenant with a customer, two monthly USD plans (Pro, Max) and an addon. */
export function subscriptionFixtures(h: () => Harness) {
  async function ok(tenant: TestTenant, method: 'POST' | 'PUT' | 'GET' | 'DELETE', url: string, body?: unknown) {
    const response = await h().request(tenant, method, url, body);
    assert.ok(response.statusCode < 300, `${method} ${url} → ${response.statusCode}: ${response.body}`);
    return response.body ? response.json() : undefined;
  }

  async function price(tenant: TestTenant, entity: { type: 'PLAN' | 'ADDON'; id: string }, body: object) {
    return ok(tenant, 'POST', '/v1/prices', {
      entity_type: entity.type,
      entity_id: entity.id,
      billing_model: 'FLAT_FEE',
      price_unit_type: 'FIAT',
      currency: 'usd',
      billing_period: 'MONTHLY',
      ...body,
    });
  }

  async function setup() {
    const tenant = await h().newTenant();
    const customer = await ok(tenant, 'POST', '/v1/customers', { external_id: 'cus-1', name: 'Acme' });
    const calls = await ok(tenant, 'POST', '/v1/features', {
      name: 'Calls',
      type: 'metered',
      meter: { name: 'Calls', event_name: 'call', aggregation: { type: 'COUNT' }, reset_usage: 'BILLING_PERIOD' },
    });
    const seats = await ok(tenant, 'POST', '/v1/features', { name: 'SSO', type: 'boolean' });
    const pro = await ok(tenant, 'POST', '/v1/plans', { name: 'Pro', lookup_key: 'pro' });
    const max = await ok(tenant, 'POST', '/v1/plans', { name: 'Max', lookup_key: 'max' });
    const proFee = await price(
      tenant,
      { type: 'PLAN', id: pro.id },
      {
        type: 'FIXED',
        amount: '30',
        invoice_cadence: 'ADVANCE',
        display_name: 'Pro fee',
      },
    );
    const proUsage = await price(
      tenant,
      { type: 'PLAN', id: pro.id },
      {
        type: 'USAGE',
        meter_id: calls.meter_id,
        amount: '0.01',
        invoice_cadence: 'ARREAR',
      },
    );
    const maxFee = await price(
      tenant,
      { type: 'PLAN', id: max.id },
      {
        type: 'FIXED',
        amount: '90',
        invoice_cadence: 'ADVANCE',
        display_name: 'Max fee',
      },
    );
    await ok(tenant, 'POST', '/v1/entitlements', {
      plan_id: pro.id,
      feature_id: calls.id,
      feature_type: 'metered',
      usage_limit: 1000,
      usage_reset_period: 'MONTHLY',
    });
    const addon = await ok(tenant, 'POST', '/v1/addons', { name: 'Extra calls', lookup_key: 'extra', type: 'onetime' });
    const addonFee = await price(
      tenant,
      { type: 'ADDON', id: addon.id },
      {
        type: 'FIXED',
        amount: '10',
        invoice_cadence: 'ADVANCE',
        display_name: 'Extra calls fee',
      },
    );
    await ok(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'ADDON',
      entity_id: addon.id,
      feature_id: calls.id,
      feature_type: 'metered',
      usage_limit: 500,
      usage_reset_period: 'MONTHLY',
    });
    await ok(tenant, 'POST', '/v1/entitlements', {
      entity_type: 'ADDON',
      entity_id: addon.id,
      feature_id: seats.id,
      feature_type: 'boolean',
      is_enabled: true,
    });
    const multi = await ok(tenant, 'POST', '/v1/addons', {
      name: 'Seat pack',
      lookup_key: 'seats',
      type: 'multiple_instance',
    });
    await price(tenant, { type: 'ADDON', id: multi.id }, { type: 'FIXED', amount: '5', invoice_cadence: 'ADVANCE' });
    return { tenant, customer, calls, seats, pro, max, proFee, proUsage, maxFee, addon, addonFee, multi };
  }

  async function subscribe(tenant: TestTenant, body: Record<string, unknown>) {
    const response = await h().request(tenant, 'POST', '/v1/subscriptions', {
      currency: 'usd',
      billing_period: 'MONTHLY',
      ...body,
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json();
  }

  /** The subscription.* messages enqueued for the tenant (invoices and wallets have their own event tests). */
  async function webhookRows(tenant: TestTenant) {
    const rows = await h()
      .database.db.selectFrom('webhook_messages')
      .select(['event_type', 'payload'])
      .where('tenant_id', '=', tenant.tenantId)
      .where('environment_id', '=', tenant.environmentId)
      .where('event_type', 'like', 'subscription.%')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ type: r.event_type, payload: JSON.parse(r.payload) as WebhookPayload }));
  }

  return { ok, price, setup, subscribe, webhookRows };
}
