import type { BackgroundTask } from '../../platform/background/runner.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FilterCondition, pageOf, parseExpand, type SortCondition } from '../../platform/db/query.ts';
import { AppError, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { columnToWire } from '../../platform/money.ts';
import type { CustomerView, CustomersService } from '../customers/customers.service.ts';
import {
  BILLING_CYCLES,
  type BillingCycle,
  firstPeriod,
  SUBSCRIPTION_BILLING_PERIODS,
  type SubscriptionBillingPeriod,
} from './periods.ts';
import { aggregateEntitlements, aggregateGrants, loadCustomerGrants } from './entitlements.ts';
import * as repo from './subscriptions.repo.ts';
import { createAddonUseCases } from './addons.ts';
import { createLifecycleUseCases } from './lifecycle.ts';
import { createLineItemUseCases } from './line-items.ts';
import { createPlanChangeUseCases } from './plan-change.ts';
import type { Selectable } from 'kysely';
import type { PricesTable } from '../../platform/db/schema.ts';
import type { PricesService } from '../catalog/prices.service.ts';
import type { CreateCreditGrantInput, CreditGrantsService } from '../catalog/credit-grants.service.ts';
import type { EntitlementsService } from '../catalog/entitlements.service.ts';
import { dec, toWire } from '../../platform/money.ts';

export const CANCELLATION_TYPES = ['immediate', 'end_of_period', 'scheduled_date'] as const;
export type CancellationType = (typeof CANCELLATION_TYPES)[number];
export const COLLECTION_METHODS = ['charge_automatically', 'send_invoice'] as const;
export const PAYMENT_BEHAVIORS = ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'default_active'];
/** How long before a period end subscription.renewal.due is sent (the reference does not document its lead time). */
export const DEFAULT_RENEWAL_DUE_LEAD_HOURS = 24;
export const PAYMENT_TERMS = ['15 NET', '30 NET', '45 NET', '60 NET', '75 NET', '90 NET'];

export interface CreateSubscriptionInput {
  plan_id: string;
  customer_id?: string | undefined;
  external_customer_id?: string | undefined;
  currency: string;
  billing_period: string;
  billing_period_count?: number | undefined;
  billing_cycle?: string | undefined;
  start_date?: string | undefined;
  end_date?: string | undefined;
  trial_period_days?: number | undefined;
  lookup_key?: string | undefined;
  metadata?: Record<string, string> | undefined;
  collection_method?: string | undefined;
  payment_behavior?: string | undefined;
  payment_terms?: string | undefined;
  timezone?: string | undefined;
  /** Only `draft` (create without activating); other values are refused. */
  subscription_status?: string | undefined;
  addons?: AttachAddonInput[] | undefined;
  override_line_items?: OverrideLineItemInput[] | undefined;
  /** Subscription-level replacements of plan or addon entitlements. */
  override_entitlements?: OverrideEntitlementInput[] | undefined;
  /** Grants of this subscription only (scope SUBSCRIPTION implied), beside the plan's copied grants. */
  credit_grants?: SubscriptionCreditGrantInput[] | undefined;
}

/** OverrideEntitlementRequest: a plan/addon entitlement's usage_limit, is_enabled, static_value or config_value. */
export interface OverrideEntitlementInput {
  entitlement_id: string;
  usage_limit?: number | null | undefined;
  is_enabled?: boolean | undefined;
  static_value?: string | undefined;
  config_value?: Record<string, unknown> | undefined;
}

/** A CreateCreditGrantRequest of the create body: `scope` may be omitted (it is SUBSCRIPTION). */
export type SubscriptionCreditGrantInput = Omit<CreateCreditGrantInput, 'scope'> & { scope?: string | undefined };

/** A plan price overridden for this subscription: a new quantity, or new pricing (a subscription-scoped copy). */
export interface OverrideLineItemInput {
  price_id: string;
  quantity?: string | undefined;
  amount?: string | undefined;
  billing_model?: string | undefined;
  tier_mode?: string | undefined;
  tiers?:
    Array<{ up_to?: number | null | undefined; unit_amount: string; flat_amount?: string | undefined }> | undefined;
  transform_quantity?: { divide_by: number; round?: string | undefined } | undefined;
}

export interface AttachAddonInput {
  addon_id: string;
  cadence?: string | undefined;
  start_date?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  proration_behavior?: string | undefined;
}

export interface CancelSubscriptionInput {
  cancellation_type: CancellationType;
  reason?: string | undefined;
  cancel_at?: string | undefined;
  proration_behavior?: string | undefined;
}

export interface SubscriptionSearch {
  expand?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  subscription_ids?: string[] | undefined;
  customer_id?: string | undefined;
  customer_ids?: string[] | undefined;
  external_customer_id?: string | undefined;
  plan_id?: string | undefined;
  subscription_status?: string[] | undefined;
  billing_period?: string[] | undefined;
  active_at?: string | undefined;
  with_line_items?: boolean | undefined;
}

export interface LineItemView {
  id: string;
  subscription_id: string;
  customer_id: string;
  entity_type: string;
  entity_id: string;
  plan_display_name: string;
  price_id: string;
  price_type: string;
  meter_id?: string;
  meter_display_name: string;
  display_name: string;
  quantity: string;
  currency: string;
  billing_period: string;
  billing_period_count: number;
  invoice_cadence: string;
  price_unit_id?: string;
  price_unit?: string;
  addon_association_id?: string;
  start_date: string;
  end_date?: string;
  metadata: Record<string, string>;
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

export interface SubscriptionView {
  id: string;
  customer_id: string;
  plan_id: string;
  lookup_key: string;
  currency: string;
  billing_cadence: 'RECURRING';
  billing_period: string;
  billing_period_count: number;
  billing_cycle: string;
  billing_anchor: string;
  start_date: string;
  end_date?: string;
  current_period_start: string;
  current_period_end: string;
  trial_start?: string;
  trial_end?: string;
  subscription_status: string;
  subscription_type: 'standalone';
  pause_status: string;
  active_pause_id?: string;
  cancel_at?: string;
  cancel_at_period_end: boolean;
  cancelled_at?: string;
  collection_method: string;
  payment_behavior: string;
  payment_terms?: string;
  proration_behavior: 'none';
  timezone: string;
  metadata: Record<string, string>;
  version: number;
  line_items?: LineItemView[];
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : undefined);

export function lineItemView(row: repo.LineItemRow): LineItemView {
  return {
    id: row.id,
    subscription_id: row.subscription_id,
    customer_id: row.customer_id,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    plan_display_name: row.plan_display_name,
    price_id: row.price_id,
    price_type: row.price_type,
    ...(row.meter_id ? { meter_id: row.meter_id } : {}),
    meter_display_name: row.meter_display_name,
    display_name: row.display_name,
    quantity: columnToWire(row.quantity),
    currency: row.currency,
    billing_period: row.billing_period,
    billing_period_count: row.billing_period_count,
    invoice_cadence: row.invoice_cadence,
    ...(row.price_unit_id ? { price_unit_id: row.price_unit_id } : {}),
    ...(row.price_unit ? { price_unit: row.price_unit } : {}),
    ...(row.addon_association_id ? { addon_association_id: row.addon_association_id } : {}),
    start_date: row.start_date.toISOString(),
    ...(row.end_date ? { end_date: row.end_date.toISOString() } : {}),
    metadata: row.metadata ?? {},
    status: row.status,
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
}

export function subscriptionView(row: repo.SubscriptionRow, lineItems?: repo.LineItemRow[]): SubscriptionView {
  const optional = {
    end_date: iso(row.end_date),
    trial_start: iso(row.trial_start),
    trial_end: iso(row.trial_end),
    cancel_at: iso(row.cancel_at),
    cancelled_at: iso(row.cancelled_at),
    payment_terms: row.payment_terms || undefined,
  };
  return {
    id: row.id,
    customer_id: row.customer_id,
    plan_id: row.plan_id,
    lookup_key: row.lookup_key,
    currency: row.currency,
    billing_cadence: 'RECURRING',
    billing_period: row.billing_period,
    billing_period_count: row.billing_period_count,
    billing_cycle: row.billing_cycle,
    billing_anchor: row.billing_anchor.toISOString(),
    start_date: row.start_date.toISOString(),
    current_period_start: row.current_period_start.toISOString(),
    current_period_end: row.current_period_end.toISOString(),
    subscription_status: row.subscription_status,
    subscription_type: 'standalone',
    pause_status: row.pause_status,
    ...(row.active_pause_id ? { active_pause_id: row.active_pause_id } : {}),
    cancel_at_period_end: row.cancel_at_period_end,
    collection_method: row.collection_method,
    payment_behavior: row.payment_behavior,
    proration_behavior: 'none',
    timezone: row.timezone,
    metadata: row.metadata ?? {},
    version: row.version,
    ...(Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) as Partial<SubscriptionView>),
    ...(lineItems ? { line_items: lineItems.map(lineItemView) } : {}),
    status: row.status,
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
}

/** Domain events of subscriptions, delivered to listeners inside the business transaction. */
export type SubscriptionEvent = {
  type:
    | 'subscription.created'
    | 'subscription.cancelled'
    | 'subscription.updated'
    | 'subscription.draft.created'
    | 'subscription.activated'
    | 'subscription.paused'
    | 'subscription.resumed'
    | 'subscription.plan_changed'
    | 'subscription.renewal.due';
  subscription: SubscriptionView;
};
export type SubscriptionEventListener = (tx: Tx, scope: Scope, event: SubscriptionEvent) => Promise<void>;

export function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`, { [field]: value });
  return new Date(ms);
}

export function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  field: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw validation(`${field} must be one of ${allowed.join(', ')}`, { [field]: value });
  }
  return value as T;
}

function checkCreate(input: CreateSubscriptionInput) {
  if (!input.plan_id) throw validation('plan_id is required');
  if (!input.customer_id && !input.external_customer_id) {
    throw validation('either customer_id or external_customer_id is required');
  }
  if (!/^[A-Za-z]{3}$/.test(input.currency)) throw validation('currency must be a 3-letter ISO 4217 code');
  const billingPeriod = oneOf(input.billing_period, SUBSCRIPTION_BILLING_PERIODS, 'billing_period');
  const count = input.billing_period_count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw validation('billing_period_count must be a positive integer');
  const cycle = oneOf(input.billing_cycle, BILLING_CYCLES, 'billing_cycle') ?? 'anniversary';
  const trialDays = input.trial_period_days ?? 0;
  if (!Number.isInteger(trialDays) || trialDays < 0) throw validation('trial_period_days must not be negative');
  oneOf(input.collection_method, COLLECTION_METHODS, 'collection_method');
  oneOf(input.payment_behavior, PAYMENT_BEHAVIORS, 'payment_behavior');
  oneOf(input.payment_terms, PAYMENT_TERMS, 'payment_terms');
  return { billingPeriod: billingPeriod as SubscriptionBillingPeriod, count, cycle: cycle as BillingCycle, trialDays };
}

export type PriceRow = Selectable<PricesTable>;

/** What the use-case files (lifecycle, addons, line items, plan change) share with the core service. */
export interface SubscriptionInternals {
  db: Db;
  clock: Clock;
  emit(tx: Tx, scope: Scope, event: SubscriptionEvent): Promise<void>;
  loadForUpdate(tx: Tx, scope: Scope, id: string): Promise<repo.SubscriptionRow>;
  findPlan(tx: Tx, scope: Scope, planId: string): Promise<{ id: string; name: string }>;
  planPrices(
    tx: Tx,
    scope: Scope,
    planId: string,
    filter: { currency: string; billingPeriod: string; count: number; at: Date },
  ): Promise<PriceRow[]>;
  insertPriceLineItems(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    prices: PriceRow[],
    source: {
      entityType: 'plan' | 'addon' | 'subscription';
      entityId: string;
      name: string;
      start: Date;
      end: Date | null;
      addonAssociationId?: string;
      quantity?: string;
      displayName?: string;
      metadata?: Record<string, string>;
    },
  ): Promise<repo.LineItemRow[]>;
  customerView(tx: Tx, scope: Scope, id: string): Promise<CustomerView | undefined>;
  repriceCopy(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    price: PriceRow,
    override: Omit<OverrideLineItemInput, 'price_id' | 'quantity'>,
    from: Date,
  ): Promise<PriceRow>;
  /** A draft activated at `to`: its own grants that started with the draft start then (catalog). */
  moveGrantStarts(tx: Tx, scope: Scope, subscriptionId: string, from: Date, to: Date): Promise<void>;
}

/** `subscription_status` on create: only `draft` is accepted (a subscription that starts on activation). */
function checkDraft(status: string | undefined): boolean {
  if (status === undefined || status === null || status === '') return false;
  if (status === 'draft') return true;
  throw validation('subscription_status on create may only be draft', { subscription_status: status });
}

/** Subscriptions: one function per use case, each in one transaction. */
export function createSubscriptionsService(deps: {
  db: Db;
  clock: Clock;
  customers: Pick<CustomersService, 'findCustomerInTransaction'>;
  prices: Pick<PricesService, 'insertPrice'>;
  creditGrants: Pick<CreditGrantsService, 'insertCreditGrant' | 'moveSubscriptionGrantStarts'>;
  entitlements: Pick<EntitlementsService, 'overrideForSubscription'>;
}) {
  const { db, clock } = deps;
  const listeners: SubscriptionEventListener[] = [];

  async function emit(tx: Tx, scope: Scope, event: SubscriptionEvent) {
    for (const listener of listeners) await listener(tx, scope, event);
  }

  async function findCustomer(tx: Tx, scope: Scope, input: CreateSubscriptionInput) {
    let query = tx
      .selectFrom('customers')
      .select(['id'])
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('status', '=', 'published');
    query = input.customer_id
      ? query.where('id', '=', input.customer_id)
      : query.where('external_id', '=', input.external_customer_id ?? '');
    // FOR SHARE: a concurrent customer delete (FOR UPDATE + guard) waits for this create, then sees it.
    const row = await query.forShare().executeTakeFirst();
    if (!row) {
      throw notFound(
        'customer',
        input.customer_id ? { customer_id: input.customer_id } : { external_customer_id: input.external_customer_id },
      );
    }
    return row.id;
  }

  async function findPlan(tx: Tx, scope: Scope, planId: string) {
    const row = await tx
      .selectFrom('plans')
      .select(['id', 'name'])
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('id', '=', planId)
      .where('status', '=', 'published')
      .forShare()
      .executeTakeFirst();
    if (!row) throw notFound('plan', { plan_id: planId });
    return row;
  }

  /** The plan's live prices for the currency and billing period, not ended at `at`. */
  async function planPrices(
    tx: Tx,
    scope: Scope,
    planId: string,
    filter: { currency: string; billingPeriod: string; count: number; at: Date },
  ) {
    return tx
      .selectFrom('prices')
      .selectAll()
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('entity_type', '=', 'PLAN')
      .where('entity_id', '=', planId)
      .where('status', '=', 'published')
      .where('currency', '=', filter.currency)
      .where('billing_period', '=', filter.billingPeriod)
      .where('billing_period_count', '=', filter.count)
      .where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', filter.at)]))
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  async function loadForUpdate(tx: Tx, scope: Scope, id: string) {
    const row = await repo.findSubscriptionById(tx, scope, id, { forUpdate: true });
    if (!row) throw notFound('subscription', { id });
    return row;
  }

  /** Line items for prices (plan or addon prices), each copying the price's terms; meter names looked up. */
  async function insertPriceLineItems(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    prices: PriceRow[],
    source: {
      entityType: 'plan' | 'addon' | 'subscription';
      entityId: string;
      name: string;
      start: Date;
      end: Date | null;
      addonAssociationId?: string;
      quantity?: string;
      displayName?: string;
      metadata?: Record<string, string>;
    },
  ) {
    const now = clock.now();
    const meterIds = [...new Set(prices.flatMap((p) => (p.meter_id ? [p.meter_id] : [])))];
    const meters = meterIds.length
      ? await tx
          .selectFrom('meters')
          .select(['id', 'name'])
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('id', 'in', meterIds)
          .execute()
      : [];
    const meterNames = new Map(meters.map((m) => [m.id, m.name]));
    return repo.insertLineItems(
      tx,
      prices.map((price) => ({
        id: newId('subscriptionLineItem'),
        tenant_id: scope.tenantId,
        environment_id: scope.environmentId,
        subscription_id: subscription.id,
        customer_id: subscription.customer_id,
        entity_type: source.entityType,
        entity_id: source.entityId,
        plan_display_name: source.name,
        price_id: price.id,
        price_type: price.type,
        meter_id: price.meter_id,
        meter_display_name: price.meter_id ? (meterNames.get(price.meter_id) ?? '') : '',
        display_name:
          source.displayName ||
          price.display_name ||
          (price.meter_id ? (meterNames.get(price.meter_id) ?? '') : source.name),
        // Fixed charges bill one unit; usage quantities come from metering.
        quantity: source.quantity ?? (price.type === 'FIXED' ? '1' : '0'),
        currency: price.currency,
        billing_period: price.billing_period,
        billing_period_count: price.billing_period_count,
        invoice_cadence: price.invoice_cadence,
        price_unit_id: price.price_unit_id,
        price_unit: price.price_unit,
        start_date: source.start,
        end_date: source.end,
        addon_association_id: source.addonAssociationId ?? null,
        metadata: JSON.stringify(source.metadata ?? {}),
        status: 'published',
        created_at: now,
        updated_at: now,
        created_by: '',
        updated_by: '',
      })),
    );
  }

  /** A SUBSCRIPTION-scoped copy of `price` with the override's pricing, from `from` (`parent_price_id` = price). */
  async function repriceCopy(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    price: PriceRow,
    override: Omit<OverrideLineItemInput, 'price_id' | 'quantity'>,
    from: Date,
  ): Promise<PriceRow> {
    if (price.price_unit_type !== 'FIAT') {
      throw validation('prices in a custom price unit cannot be overridden yet', { price_id: price.id });
    }
    const model = override.billing_model ?? price.billing_model;
    return deps.prices.insertPrice(tx, scope, {
      entity_type: 'SUBSCRIPTION',
      entity_id: subscription.id,
      type: price.type,
      billing_model: model,
      billing_period: price.billing_period,
      billing_period_count: price.billing_period_count,
      billing_cadence: price.billing_cadence,
      invoice_cadence: price.invoice_cadence,
      currency: price.currency,
      price_unit_type: 'FIAT',
      ...(override.amount !== undefined
        ? { amount: override.amount }
        : model === price.billing_model && model !== 'TIERED'
          ? { amount: price.amount }
          : {}),
      ...(price.meter_id ? { meter_id: price.meter_id } : {}),
      ...(price.filter_values ? { filter_values: price.filter_values } : {}),
      ...(override.tier_mode !== undefined
        ? { tier_mode: override.tier_mode }
        : price.tier_mode && model === 'TIERED'
          ? { tier_mode: price.tier_mode }
          : {}),
      ...(override.tiers !== undefined
        ? { tiers: override.tiers }
        : price.tiers && model === 'TIERED'
          ? { tiers: price.tiers }
          : {}),
      ...(override.transform_quantity !== undefined
        ? { transform_quantity: override.transform_quantity }
        : price.transform_quantity && model === 'PACKAGE'
          ? { transform_quantity: price.transform_quantity }
          : {}),
      description: price.description,
      display_name: price.display_name,
      metadata: price.metadata ?? {},
      parent_price_id: price.id,
      start_date: from.toISOString(),
    });
  }

  /**
   * `override_line_items` on create: each names one of the plan prices the subscription takes (400 otherwise, or
   * twice). `quantity` (FIXED prices only) sets the line item's quantity; pricing fields (`amount`, `billing_model`,
   * `tier_mode`, `tiers`, `transform_quantity`) create a SUBSCRIPTION-scoped copy of the price (`parent_price_id` the
   * plan price) that the line item uses instead. Custom-unit prices cannot be repriced (400).
   */
  async function applyOverrides(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    prices: PriceRow[],
    overrides: OverrideLineItemInput[],
  ): Promise<Array<{ price: PriceRow; quantity?: string }>> {
    const byPrice = new Map<string, OverrideLineItemInput>();
    for (const [i, override] of overrides.entries()) {
      if (!override.price_id) throw validation(`override_line_items[${i}].price_id is required`);
      if (byPrice.has(override.price_id)) {
        throw validation('a price is overridden twice', { price_id: override.price_id });
      }
      if (!prices.some((p) => p.id === override.price_id)) {
        throw validation('override_line_items may only name prices of the plan the subscription takes', {
          price_id: override.price_id,
        });
      }
      byPrice.set(override.price_id, override);
    }
    const out: Array<{ price: PriceRow; quantity?: string }> = [];
    for (const price of prices) {
      const override = byPrice.get(price.id);
      if (!override) {
        out.push({ price });
        continue;
      }
      let quantity: string | undefined;
      if (override.quantity !== undefined) {
        if (price.type !== 'FIXED') {
          throw validation('quantity can only be overridden on FIXED prices', { price_id: price.id });
        }
        let q;
        try {
          q = dec(override.quantity);
        } catch {
          throw validation('quantity must be a decimal string', { quantity: override.quantity });
        }
        if (!q.isFinite() || q.isNegative()) throw validation('quantity must not be negative');
        quantity = toWire(q);
      }
      const repriced =
        override.amount !== undefined ||
        override.billing_model !== undefined ||
        override.tier_mode !== undefined ||
        override.tiers !== undefined ||
        override.transform_quantity !== undefined;
      if (!repriced) {
        out.push({ price, ...(quantity !== undefined ? { quantity } : {}) });
        continue;
      }
      const copy = await repriceCopy(tx, scope, subscription, price, override, subscription.start_date);
      out.push({ price: copy, ...(quantity !== undefined ? { quantity } : {}) });
    }
    return out;
  }

  /**
   * The create body's `credit_grants`, written as SUBSCRIPTION grants of the new subscription in its create
   * transaction through the catalog's own insert (the same validation as POST /v1/creditgrants; a refused grant
   * rolls the whole create back). `start_date` defaults to the subscription's start and may not be before it. The
   * billing hook then applies them with the plan's copied grants (first application now, recurring by the job).
   */
  async function insertRequestGrants(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    grants: SubscriptionCreditGrantInput[],
  ) {
    for (const [index, grant] of grants.entries()) {
      const field = `credit_grants[${index}]`;
      if (grant.scope !== undefined && grant.scope !== 'SUBSCRIPTION') {
        throw validation(`${field}.scope must be SUBSCRIPTION (grants of the create body belong to the subscription)`, {
          field: `${field}.scope`,
        });
      }
      for (const owner of ['plan_id', 'addon_id', 'subscription_id'] as const) {
        if (grant[owner]) {
          throw validation(`${field}.${owner} is not allowed: the grant belongs to the subscription being created`, {
            field: `${field}.${owner}`,
          });
        }
      }
      const start = parseTime(grant.start_date, `${field}.start_date`) ?? subscription.start_date;
      if (start.getTime() < subscription.start_date.getTime()) {
        throw validation(`${field}.start_date must not be before the subscription's start_date`, {
          field: `${field}.start_date`,
        });
      }
      try {
        await deps.creditGrants.insertCreditGrant(tx, scope, {
          ...grant,
          scope: 'SUBSCRIPTION',
          subscription_id: subscription.id,
          start_date: start.toISOString(),
        });
      } catch (error) {
        if (error instanceof AppError && error.code === 'validation_error') {
          throw validation(`${field}: ${error.message}`, { field, ...(error.details ?? {}) });
        }
        throw error;
      }
    }
  }

  /**
   * `override_entitlements` on create: each names an entitlement of the plan or of an addon attached in the same
   * request (once); the catalog writes a SUBSCRIPTION entitlement with that parent and the overridden values, in the
   * create transaction (any refusal rolls the create back).
   */
  async function insertEntitlementOverrides(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    input: CreateSubscriptionInput,
  ) {
    const overrides = input.override_entitlements ?? [];
    const owners = [
      { entity_type: 'PLAN' as const, entity_id: subscription.plan_id },
      ...(input.addons ?? []).map((a) => ({ entity_type: 'ADDON' as const, entity_id: a.addon_id })),
    ];
    const seen = new Set<string>();
    for (const [index, override] of overrides.entries()) {
      const field = `override_entitlements[${index}]`;
      if (seen.has(override.entitlement_id)) {
        throw validation(`${field}.entitlement_id is overridden twice`, { entitlement_id: override.entitlement_id });
      }
      seen.add(override.entitlement_id);
      const { entitlement_id: _id, ...values } = override;
      if (Object.values(values).every((v) => v === undefined)) {
        throw validation(`${field} overrides nothing: give usage_limit, is_enabled, static_value or config_value`);
      }
      try {
        await deps.entitlements.overrideForSubscription(tx, scope, {
          ...override,
          subscription_id: subscription.id,
          owners,
        });
      } catch (error) {
        if (error instanceof AppError && error.code === 'validation_error') {
          throw validation(`${field}: ${error.message}`, { field, ...(error.details ?? {}) });
        }
        throw error;
      }
    }
  }

  const internals: SubscriptionInternals = {
    db,
    clock,
    emit,
    loadForUpdate,
    findPlan,
    planPrices,
    insertPriceLineItems,
    repriceCopy,
    customerView: (tx, scope, id) => deps.customers.findCustomerInTransaction(tx, scope, id),
    moveGrantStarts: (tx, scope, id, from, to) =>
      deps.creditGrants.moveSubscriptionGrantStarts(tx, scope, id, from, to),
  };
  const addons = createAddonUseCases(internals);
  const lifecycle = createLifecycleUseCases(internals);
  const lineItems = createLineItemUseCases(internals);
  const planChange = createPlanChangeUseCases(internals);

  return {
    ...addons.routes,
    ...lifecycle,
    ...lineItems,
    ...planChange,

    onEvent(listener: SubscriptionEventListener) {
      listeners.push(listener);
    },

    /** For catalog.registerEntityCheck('SUBSCRIPTION', …). */
    async exists(executor: Executor, scope: Scope, id: string): Promise<boolean> {
      return Boolean(await repo.findSubscriptionById(executor, scope, id));
    },

    /** Deletion guards for plans and customers: live subscriptions block them. */
    async planDeletionGuard(tx: Tx, scope: Scope, planId: string): Promise<string | null> {
      return (await repo.hasLiveSubscription(tx, scope, 'plan_id', planId))
        ? 'plan is used by active subscriptions'
        : null;
    },
    /** Addons attached to a live subscription (active association) cannot be deleted. */
    async addonDeletionGuard(tx: Tx, scope: Scope, addonId: string): Promise<string | null> {
      const row = await tx
        .selectFrom('addon_associations')
        .innerJoin('subscriptions', 'subscriptions.id', 'addon_associations.entity_id')
        .select('addon_associations.id')
        .where('addon_associations.tenant_id', '=', scope.tenantId)
        .where('addon_associations.environment_id', '=', scope.environmentId)
        .where('addon_associations.addon_id', '=', addonId)
        .where('addon_associations.addon_status', '=', 'active')
        .where('subscriptions.subscription_status', 'in', repo.LIVE_STATUSES)
        .limit(1)
        .executeTakeFirst();
      return row ? 'addon is attached to active subscriptions' : null;
    },
    async customerDeletionGuard(tx: Tx, scope: Scope, customerId: string): Promise<string | null> {
      return (await repo.hasLiveSubscription(tx, scope, 'customer_id', customerId))
        ? 'customer has active subscriptions'
        : null;
    },

    /** 201; line items snapshot the plan prices of the currency and billing period (400 when there are none). */
    async createSubscription(scope: Scope, input: CreateSubscriptionInput): Promise<SubscriptionView> {
      const { billingPeriod, count, cycle, trialDays } = checkCreate(input);
      const now = clock.now();
      const start = parseTime(input.start_date, 'start_date') ?? now;
      const end = parseTime(input.end_date, 'end_date');
      if (end && end.getTime() <= start.getTime()) throw validation('end_date must be after start_date');
      const currency = input.currency.toLowerCase();
      return withTransaction(db, async (tx) => {
        const customerId = await findCustomer(tx, scope, input);
        const plan = await findPlan(tx, scope, input.plan_id);
        const prices = await planPrices(tx, scope, plan.id, { currency, billingPeriod, count, at: start });
        if (prices.length === 0) {
          throw validation('the plan has no prices for this currency and billing period', {
            plan_id: plan.id,
            currency,
            billing_period: billingPeriod,
            billing_period_count: count,
          });
        }
        const draft = checkDraft(input.subscription_status);
        const period = firstPeriod(start, billingPeriod, count, cycle);
        const trialEnd = trialDays > 0 ? new Date(start.getTime() + trialDays * 86_400_000) : null;
        const row = await repo.insertSubscription(tx, {
          id: newId('subscription'),
          tenant_id: scope.tenantId,
          environment_id: scope.environmentId,
          customer_id: customerId,
          plan_id: plan.id,
          lookup_key: input.lookup_key ?? '',
          currency,
          billing_period: billingPeriod,
          billing_period_count: count,
          billing_cycle: cycle,
          billing_anchor: period.billingAnchor,
          start_date: start,
          end_date: end ?? null,
          current_period_start: period.periodStart,
          current_period_end: period.periodEnd,
          trial_start: trialEnd ? start : null,
          trial_end: trialEnd,
          subscription_status: draft ? 'draft' : trialEnd ? 'trialing' : 'active',
          cancel_at_period_end: false,
          collection_method: input.collection_method ?? 'charge_automatically',
          payment_behavior: input.payment_behavior ?? 'default_active',
          payment_terms: input.payment_terms ?? '',
          timezone: input.timezone ?? 'UTC',
          metadata: JSON.stringify(input.metadata ?? {}),
          version: 1,
          status: 'published',
          created_at: now,
          updated_at: now,
          created_by: '',
          updated_by: '',
        });
        const overrides = await applyOverrides(tx, scope, row, prices, input.override_line_items ?? []);
        for (const group of overrides) {
          await insertPriceLineItems(tx, scope, row, [group.price], {
            entityType: 'plan',
            entityId: plan.id,
            name: plan.name,
            start,
            end: end ?? null,
            ...(group.quantity !== undefined ? { quantity: group.quantity } : {}),
          });
        }
        for (const addon of input.addons ?? []) await addons.attachInTransaction(tx, scope, row, addon);
        await insertRequestGrants(tx, scope, row, input.credit_grants ?? []);
        await insertEntitlementOverrides(tx, scope, row, input);
        const items = await repo.findLineItems(tx, scope, [row.id]);
        const view = subscriptionView(row, items);
        await emit(tx, scope, {
          type: draft ? 'subscription.draft.created' : 'subscription.created',
          subscription: view,
        });
        return view;
      });
    },

    /** With its line items; 404 in another environment. */
    async getSubscription(scope: Scope, id: string): Promise<SubscriptionView> {
      const row = await repo.findSubscriptionById(db, scope, id);
      if (!row) throw notFound('subscription', { id });
      return subscriptionView(row, await repo.findLineItems(db, scope, [row.id]));
    },

    /**
     * immediate: cancelled now (status, end date, line items end). end_of_period / scheduled_date: the subscription
     * stays live with `cancel_at` (and `end_date`) set; the period job ends it then. 400 when already cancelled or
     * already scheduled to be.
     */
    async cancelSubscription(scope: Scope, id: string, input: CancelSubscriptionInput) {
      const cancellationType = oneOf(input.cancellation_type, CANCELLATION_TYPES, 'cancellation_type');
      if (!cancellationType) throw validation('cancellation_type is required');
      const cancelAtInput = parseTime(input.cancel_at, 'cancel_at');
      if (cancellationType === 'scheduled_date' && !cancelAtInput) {
        throw validation('cancel_at is required when cancellation_type is scheduled_date');
      }
      if (cancellationType !== 'scheduled_date' && cancelAtInput) {
        throw validation('cancel_at is only allowed when cancellation_type is scheduled_date');
      }
      const prorations = oneOf(input.proration_behavior, ['create_prorations', 'none'], 'proration_behavior') ?? 'none';
      if (prorations === 'create_prorations' && cancellationType === 'scheduled_date') {
        throw validation(
          'proration_behavior create_prorations is not supported with cancellation_type scheduled_date (only immediate; end_of_period leaves nothing to prorate)',
          { field: 'proration_behavior' },
        );
      }
      const now = clock.now();
      if (cancelAtInput && cancelAtInput.getTime() <= now.getTime())
        throw validation('cancel_at must be in the future');
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (current.subscription_status === 'cancelled') {
          throw invalidOperation('subscription is already cancelled', { id });
        }
        if (current.cancel_at) throw invalidOperation('subscription is already scheduled to cancel', { id });
        if (
          cancellationType !== 'immediate' &&
          (current.pause_status === 'active' || current.pause_status === 'scheduled')
        ) {
          // The job does not advance paused subscriptions, so it could not end this one at its date.
          throw invalidOperation('subscription is paused or has a pause scheduled: resume it first, or cancel now', {
            pause_status: current.pause_status,
          });
        }
        const effective =
          cancellationType === 'immediate'
            ? now
            : cancellationType === 'end_of_period'
              ? current.current_period_end
              : (cancelAtInput as Date);
        if (current.end_date && effective.getTime() > current.end_date.getTime()) {
          throw validation('the subscription ends before that date', { end_date: current.end_date.toISOString() });
        }
        const immediate = cancellationType === 'immediate';
        // Credits for the unused part of the ADVANCE fees, read before the line items end (wallet credit, in this tx).
        const proration =
          immediate && prorations === 'create_prorations'
            ? await planChange.settleCancellationProration(tx, scope, current, now)
            : { details: [], total: dec(0) };
        const row = await repo.updateSubscriptionById(tx, scope, id, {
          cancel_at: effective,
          cancel_at_period_end: cancellationType === 'end_of_period',
          end_date: effective,
          end_date_before_cancel: current.end_date,
          ...(immediate ? { subscription_status: 'cancelled', cancelled_at: now } : {}),
          // Cancelling a paused subscription ends its pause.
          ...(immediate && current.active_pause_id ? { pause_status: 'cancelled', active_pause_id: null } : {}),
          version: current.version + 1,
          updated_at: now,
        });
        await tx
          .updateTable('subscription_line_items')
          .set({ end_date: effective, updated_at: now })
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('subscription_id', '=', id)
          .where('status', '=', 'published')
          .where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', effective)]))
          .execute();
        if (immediate && current.active_pause_id) {
          await tx
            .updateTable('subscription_pauses')
            .set({ pause_status: 'cancelled', updated_at: now })
            .where('tenant_id', '=', scope.tenantId)
            .where('environment_id', '=', scope.environmentId)
            .where('id', '=', current.active_pause_id)
            .execute();
        }
        if (immediate) {
          // A plan change scheduled for the period end will not happen.
          await planChange.cancelPendingSchedules(tx, scope, id, now, 'the subscription was cancelled');
          await emit(tx, scope, { type: 'subscription.cancelled', subscription: subscriptionView(row) });
        }
        return {
          subscription_id: row.id,
          cancellation_type: cancellationType,
          effective_date: effective.toISOString(),
          status: row.subscription_status,
          reason: input.reason ?? '',
          processed_at: now.toISOString(),
          message: immediate
            ? 'subscription cancelled'
            : `subscription scheduled to cancel at ${effective.toISOString()}`,
          // proration_behavior create_prorations (immediate): the unused ADVANCE fees credited to the prepaid wallet.
          total_credit_amount: toWire(proration.total),
          proration_details: proration.details,
        };
      });
    },

    async searchSubscriptions(scope: Scope, search: SubscriptionSearch) {
      parseExpand(search.expand, []);
      const { limit, offset } = pageOf(search);
      for (const field of ['start_time', 'end_time', 'active_at'] as const) parseTime(search[field], field);
      for (const value of search.subscription_status ?? []) {
        oneOf(value, ['active', 'paused', 'cancelled', 'incomplete', 'trialing', 'draft'], 'subscription_status');
      }
      for (const value of search.billing_period ?? []) oneOf(value, SUBSCRIPTION_BILLING_PERIODS, 'billing_period');
      // customer_ids, customer_id and external_customer_id all apply (intersection).
      let customerIds = search.customer_ids;
      const narrow = (ids: string[]) => {
        customerIds = customerIds ? customerIds.filter((id) => ids.includes(id)) : ids;
      };
      if (search.customer_id !== undefined) narrow([search.customer_id]);
      if (search.external_customer_id !== undefined) {
        const customer = await db
          .selectFrom('customers')
          .select('id')
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('external_id', '=', search.external_customer_id)
          .where('status', '=', 'published')
          .executeTakeFirst();
        narrow(customer ? [customer.id] : []);
      }
      const { rows, total } = await repo.listSubscriptions(db, scope, {
        ...search,
        customer_ids: customerIds,
        active_at: parseTime(search.active_at, 'active_at'),
        limit,
        offset,
      });
      const items = search.with_line_items
        ? await repo.findLineItems(
            db,
            scope,
            rows.map((r) => r.id),
          )
        : undefined;
      return {
        items: rows.map((r) =>
          subscriptionView(
            r,
            items?.filter((i) => i.subscription_id === r.id),
          ),
        ),
        pagination: { total, limit, offset },
      };
    },

    /** What the subscription grants per feature (§5.4), optionally only for some features. */
    async getSubscriptionEntitlements(scope: Scope, id: string, featureIds?: string[]) {
      const row = await repo.findSubscriptionById(db, scope, id);
      if (!row) throw notFound('subscription', { id });
      const features = await aggregateEntitlements(db, scope, [row], { at: clock.now(), featureIds });
      return { subscription_id: row.id, plan_id: row.plan_id, features };
    },

    /** The sum of what the customer's active and trialing subscriptions grant (§5.4); 404 for unknown customers. */
    async getCustomerEntitlements(scope: Scope, ref: { id?: string; externalId?: string }) {
      // one statement: the customer, its subscriptions and everything they are granted
      const at = clock.now();
      const customer = await loadCustomerGrants(db, scope, ref, ['active', 'trialing'], at);
      if (!customer) throw notFound('customer', ref.id ? { id: ref.id } : { external_id: ref.externalId });
      const rows = customer.subscriptions;
      const features = aggregateGrants(rows, customer.grants, { at, planNames: customer.planNames });
      return { customer_id: customer.id, subscriptions: rows.map((r) => subscriptionView(r)), features };
    },

    /**
     * Every subscription of the customer (any status), newest first; `expand=subscription_line_items` adds line
     * items. 404 for an unknown customer.
     */
    async listCustomerSubscriptions(scope: Scope, externalId: string, expand?: string) {
      const expanded = parseExpand(expand, ['subscription_line_items']);
      const customer = await db
        .selectFrom('customers')
        .select('id')
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('external_id', '=', externalId)
        .where('status', '=', 'published')
        .executeTakeFirst();
      if (!customer) throw notFound('customer', { external_id: externalId });
      const limit = 1000;
      const { rows, total } = await repo.listSubscriptions(db, scope, {
        customer_ids: [customer.id],
        limit,
        offset: 0,
      });
      const items = expanded.has('subscription_line_items')
        ? await repo.findLineItems(
            db,
            scope,
            rows.map((r) => r.id),
          )
        : undefined;
      return {
        items: rows.map((r) =>
          subscriptionView(
            r,
            items?.filter((i) => i.subscription_id === r.id),
          ),
        ),
        pagination: { total, limit, offset: 0 },
      };
    },

    /**
     * The USAGE line items of the customer's active and trialing subscriptions that have not ended at `at`, oldest
     * subscription first (usage analytics prices a meter with the first one that charges it).
     */
    async liveUsageLineItems(scope: Scope, customerId: string, at: Date) {
      const { rows } = await repo.listSubscriptions(db, scope, {
        customer_ids: [customerId],
        subscription_status: ['active', 'trialing'],
        order: 'asc',
        limit: 1000,
        offset: 0,
      });
      const items = await repo.findLineItems(
        db,
        scope,
        rows.map((r) => r.id),
      );
      const order = new Map(rows.map((r, index) => [r.id, index]));
      return items
        .filter((i) => i.price_type === 'USAGE' && i.meter_id && (!i.end_date || i.end_date.getTime() > at.getTime()))
        .sort((a, b) => order.get(a.subscription_id)! - order.get(b.subscription_id)!)
        .map((item) => ({ ...lineItemView(item), plan_id: rows[order.get(item.subscription_id)!]!.plan_id }));
    },

    /**
     * `subscription.renewal.due`, once per period: active and trialing subscriptions (every tenant) whose current
     * period ends within `leadHours` (SUBSCRIPTION_RENEWAL_DUE_LEAD_HOURS, default 24) and that renew then — not
     * ending or cancelling at that period end (end_date / cancel_at on or before it). Up to `limit` per run, soonest
     * first; each in its own transaction that claims the row (FOR UPDATE SKIP LOCKED, re-checked), records the period
     * end in `renewal_due_notified_for` and enqueues the event, so repeated or concurrent runs emit it once per period.
     */
    async notifyRenewalsDue(
      options: { limit?: number; leadHours?: number } = {},
    ): Promise<{ notified: number; more: boolean }> {
      const limit = options.limit ?? 100;
      const now = clock.now();
      const horizon = new Date(now.getTime() + (options.leadHours ?? DEFAULT_RENEWAL_DUE_LEAD_HOURS) * 3_600_000);
      const due = await repo.listRenewalsDue(db, { now, horizon, limit });
      let notified = 0;
      for (const candidate of due) {
        const scope = { tenantId: candidate.tenant_id, environmentId: candidate.environment_id };
        const done = await withTransaction(db, async (tx) => {
          const row = await repo.claimRenewalDue(tx, scope, candidate.id, { now, horizon });
          if (!row) return false;
          const updated = await repo.updateSubscriptionById(tx, scope, row.id, {
            renewal_due_notified_for: row.current_period_end,
          });
          const view = subscriptionView(updated, await repo.findLineItems(tx, scope, [row.id]));
          await emit(tx, scope, { type: 'subscription.renewal.due', subscription: view });
          return true;
        });
        if (done) notified++;
      }
      return { notified, more: due.length === limit };
    },

    /** The subscription's customer as seen in `tx` (for webhook payloads). */
    async customerOf(tx: Tx, scope: Scope, subscription: SubscriptionView): Promise<CustomerView | undefined> {
      return deps.customers.findCustomerInTransaction(tx, scope, subscription.customer_id);
    },
  };
}

export type SubscriptionsService = ReturnType<typeof createSubscriptionsService>;

/** subscription.renewal.due as periodic background work (every minute; at once again while more are due). */
export function renewalDueTask(
  subscriptions: SubscriptionsService,
  options: { leadHours?: number; intervalMs?: number } = {},
): BackgroundTask {
  return {
    name: 'subscriptions.notify-renewals-due',
    intervalMs: options.intervalMs ?? 60_000,
    run: async () =>
      (
        await subscriptions.notifyRenewalsDue({
          limit: 100,
          ...(options.leadHours !== undefined ? { leadHours: options.leadHours } : {}),
        })
      ).more,
  };
}
