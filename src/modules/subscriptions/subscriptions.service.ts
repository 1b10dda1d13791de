import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FilterCondition, pageOf, parseExpand, type SortCondition } from '../../platform/db/query.ts';
import { invalidOperation, notFound, validation } from '../../platform/errors.ts';
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
import { aggregateEntitlements } from './entitlements.ts';
import * as repo from './subscriptions.repo.ts';

export const CANCELLATION_TYPES = ['immediate', 'end_of_period', 'scheduled_date'] as const;
export type CancellationType = (typeof CANCELLATION_TYPES)[number];
export const COLLECTION_METHODS = ['charge_automatically', 'send_invoice'] as const;
export const PAYMENT_BEHAVIORS = ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'default_active'];
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
}

export interface CancelSubscriptionInput {
  cancellation_type: CancellationType;
  reason?: string | undefined;
  cancel_at?: string | undefined;
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
  pause_status: 'none';
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
    pause_status: 'none',
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
export type SubscriptionEvent =
  | { type: 'subscription.created'; subscription: SubscriptionView }
  | { type: 'subscription.cancelled'; subscription: SubscriptionView };
export type SubscriptionEventListener = (tx: Tx, scope: Scope, event: SubscriptionEvent) => Promise<void>;

function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`, { [field]: value });
  return new Date(ms);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T | undefined {
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

/** Subscriptions: one function per use case, each in one transaction. */
export function createSubscriptionsService(deps: {
  db: Db;
  clock: Clock;
  customers: Pick<CustomersService, 'findCustomerInTransaction'>;
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

  return {
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
          subscription_status: trialEnd ? 'trialing' : 'active',
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
        const items = await repo.insertLineItems(
          tx,
          prices.map((price) => ({
            id: newId('subscriptionLineItem'),
            tenant_id: scope.tenantId,
            environment_id: scope.environmentId,
            subscription_id: row.id,
            customer_id: customerId,
            entity_type: 'plan',
            entity_id: plan.id,
            plan_display_name: plan.name,
            price_id: price.id,
            price_type: price.type,
            meter_id: price.meter_id,
            meter_display_name: price.meter_id ? (meterNames.get(price.meter_id) ?? '') : '',
            display_name: price.display_name || (price.meter_id ? (meterNames.get(price.meter_id) ?? '') : plan.name),
            // Fixed charges bill one unit; usage quantities come from metering.
            quantity: price.type === 'FIXED' ? '1' : '0',
            currency: price.currency,
            billing_period: price.billing_period,
            billing_period_count: price.billing_period_count,
            invoice_cadence: price.invoice_cadence,
            price_unit_id: price.price_unit_id,
            price_unit: price.price_unit,
            start_date: start,
            end_date: end ?? null,
            metadata: '{}',
            status: 'published',
            created_at: now,
            updated_at: now,
            created_by: '',
            updated_by: '',
          })),
        );
        const view = subscriptionView(row, items);
        await emit(tx, scope, { type: 'subscription.created', subscription: view });
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
      const now = clock.now();
      if (cancelAtInput && cancelAtInput.getTime() <= now.getTime())
        throw validation('cancel_at must be in the future');
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (current.subscription_status === 'cancelled') {
          throw invalidOperation('subscription is already cancelled', { id });
        }
        if (current.cancel_at) throw invalidOperation('subscription is already scheduled to cancel', { id });
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
        const row = await repo.updateSubscriptionById(tx, scope, id, {
          cancel_at: effective,
          cancel_at_period_end: cancellationType === 'end_of_period',
          end_date: effective,
          ...(immediate ? { subscription_status: 'cancelled', cancelled_at: now } : {}),
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
        if (immediate) {
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
          // No proration in this slice (proration_behavior none): nothing is credited back.
          total_credit_amount: '0',
          proration_details: [] as never[],
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
      const customer = await repo.findCustomerWithSubscriptions(db, scope, ref, ['active', 'trialing']);
      if (!customer) throw notFound('customer', ref.id ? { id: ref.id } : { external_id: ref.externalId });
      const rows = customer.subscriptions;
      const features = await aggregateEntitlements(db, scope, rows, {
        at: clock.now(),
        planNames: customer.planNames,
      });
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

    /** The subscription's customer as seen in `tx` (for webhook payloads). */
    async customerOf(tx: Tx, scope: Scope, subscription: SubscriptionView): Promise<CustomerView | undefined> {
      return deps.customers.findCustomerInTransaction(tx, scope, subscription.customer_id);
    },
  };
}

export type SubscriptionsService = ReturnType<typeof createSubscriptionsService>;
