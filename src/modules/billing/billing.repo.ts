import { type Insertable, type Selectable, sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { CreditGrantApplicationsTable, Database } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';
import { listLiveBy } from '../../platform/db/scoped.ts';

/**
 * Billing reads the subscription, its line items and the catalog rows they point at through the executor of the
 * caller (the billing job's transaction), as the subscriptions module's own entitlement aggregation does: the
 * owning services read through `db`, which deadlocks inside a transaction on PGlite.
 */
export type SubscriptionRow = Selectable<Database['subscriptions']>;
export type LineItemRow = Selectable<Database['subscription_line_items']>;
export type PriceRow = Selectable<Database['prices']>;
export type MeterRow = Selectable<Database['meters']>;
export type CreditGrantRow = Selectable<Database['credit_grants']>;
export type ApplicationRow = Selectable<CreditGrantApplicationsTable>;

export function findSubscription(db: Executor, scope: Scope, id: string) {
  return db
    .selectFrom('subscriptions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published')
    .executeTakeFirst();
}

/**
 * Claims a subscription for the billing job: locks its row, skipping it when another worker holds it (that worker
 * is billing it), and only while it is still due at `now` (a worker that committed the period first moved it on).
 */
export function claimDueSubscription(db: Executor, scope: Scope, id: string, now: Date) {
  return db
    .selectFrom('subscriptions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published')
    .where('subscription_status', 'in', ['active', 'trialing'])
    .where((eb) => eb.or([eb('current_period_end', '<=', now), eb('end_date', '<=', now)]))
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
}

/** Subscriptions (every tenant) whose period or end date has passed, oldest first. */
export function listDueSubscriptions(db: Executor, now: Date, limit: number) {
  return db
    .selectFrom('subscriptions')
    .select(['id', 'tenant_id', 'environment_id'])
    .where('status', '=', 'published')
    .where('subscription_status', 'in', ['active', 'trialing'])
    .where((eb) =>
      eb.or([eb('current_period_end', '<=', now), eb.and([eb('end_date', 'is not', null), eb('end_date', '<=', now)])]),
    )
    .orderBy('current_period_end', 'asc')
    .orderBy('id', 'asc')
    .limit(limit)
    .execute();
}

/** Trialing subscriptions whose trial is over become active (idempotent). */
export async function endTrials(db: Executor, now: Date) {
  const result = await db
    .updateTable('subscriptions')
    .set({ subscription_status: 'active', updated_at: now })
    .where('status', '=', 'published')
    .where('subscription_status', '=', 'trialing')
    .where('trial_end', '<=', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export function updateSubscription(
  db: Executor,
  scope: Scope,
  id: string,
  changes: Partial<Insertable<Database['subscriptions']>>,
) {
  return db
    .updateTable('subscriptions')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function listLineItems(db: Executor, scope: Scope, subscriptionIds: string[]): Promise<LineItemRow[]> {
  return listLiveBy(db, 'subscription_line_items', scope, 'subscription_id', subscriptionIds);
}

/**
 * What the charge computation reads besides prices, in one statement: the subscription's line items, each with its
 * meter row (whatever its status, as JSON with timestamps as text: `meterRowOf`), the customer's external id and
 * whether the plan or the subscription has any live entitlement (the full aggregation is skipped otherwise).
 */
/**
 * What a charge computation reads, in one statement: the subscription's line items with their meters, the
 * customer's external id, whether any entitlement applies, and (with `pausesBefore`) the subscription's pauses that
 * start before that time as [start, end) spans in ms — completed pauses up to their resume, active and scheduled
 * ones up to their planned end (open-ended: forever); cancelled pauses never took effect.
 */
export async function listChargeItems(
  db: Executor,
  scope: Scope,
  subscription: SubscriptionRow,
  options: { pausesBefore?: Date } = {},
) {
  const rows = await db
    .selectFrom('subscription_line_items as li')
    .leftJoin('meters as m', (join) =>
      join
        .onRef('m.tenant_id', '=', 'li.tenant_id')
        .onRef('m.environment_id', '=', 'li.environment_id')
        .onRef('m.id', '=', 'li.meter_id'),
    )
    .selectAll('li')
    .select([
      sql<Record<string, unknown> | null>`to_jsonb(m)`.as('meter_json'),
      sql<string | null>`(
        select c.external_id from customers c
        where c.tenant_id = ${scope.tenantId} and c.environment_id = ${scope.environmentId}
          and c.id = ${subscription.customer_id})`.as('customer_external_id'),
      sql<boolean>`exists (
        select 1 from entitlements e
        where e.tenant_id = ${scope.tenantId} and e.environment_id = ${scope.environmentId}
          and e.entity_type in ('PLAN', 'SUBSCRIPTION') and e.entity_id in (${subscription.plan_id}, ${subscription.id})
          and e.status = 'published')`.as('has_entitlements'),
      options.pausesBefore
        ? sql<Array<[string, string | null]>>`(
            select coalesce(json_agg(json_build_array(p.pause_start, coalesce(p.resumed_at, p.pause_end))), '[]')
            from subscription_pauses p
            where p.tenant_id = ${scope.tenantId} and p.environment_id = ${scope.environmentId}
              and p.subscription_id = ${subscription.id}
              and p.pause_status in ('active', 'scheduled', 'completed')
              and p.pause_start < ${options.pausesBefore})`.as('pauses_json')
        : sql<null>`null`.as('pauses_json'),
    ])
    .where('li.tenant_id', '=', scope.tenantId)
    .where('li.environment_id', '=', scope.environmentId)
    .where('li.subscription_id', '=', subscription.id)
    .where('li.status', '=', 'published')
    .orderBy('li.created_at', 'asc')
    .orderBy('li.id', 'asc')
    .execute();
  const items: LineItemRow[] = [];
  const meters = new Map<string, MeterRow>();
  for (const { meter_json: meter, customer_external_id: _c, has_entitlements: _e, pauses_json: _p, ...item } of rows) {
    items.push(item);
    if (meter) meters.set(meter.id as string, meterRowOf(meter));
  }
  return {
    items,
    meters,
    externalCustomerId: rows[0]?.customer_external_id ?? undefined,
    hasEntitlements: rows[0]?.has_entitlements ?? false,
    pausedSpans: (rows[0]?.pauses_json ?? []).map(
      ([start, end]) => [Date.parse(start), end === null ? Infinity : Date.parse(end)] as const,
    ),
  };
}

/** A meters row read as JSON (to_jsonb) back in the driver's shape: timestamps as Dates. */
function meterRowOf(json: Record<string, unknown>): MeterRow {
  return {
    ...json,
    created_at: new Date(json.created_at as string),
    updated_at: new Date(json.updated_at as string),
  } as MeterRow;
}

/** Prices by id whatever their status: a line item keeps billing the price it snapshotted even once archived. */
export function findPrices(db: Executor, scope: Scope, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([] as PriceRow[]);
  return db
    .selectFrom('prices')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', 'in', [...new Set(ids)])
    .execute();
}

/** Live subscriptions of a customer in a currency (for the real-time balance). */
export function listLiveSubscriptionsOfCustomer(db: Executor, scope: Scope, customerId: string, currency: string) {
  return db
    .selectFrom('subscriptions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency)
    .where('status', '=', 'published')
    .where('subscription_status', 'in', ['active', 'trialing'])
    .execute();
}

// ---- credit grants ---------------------------------------------------------------------------------------------

export function listGrants(db: Executor, scope: Scope, column: 'plan_id' | 'subscription_id', id: string) {
  return db
    .selectFrom('credit_grants')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(column, '=', id)
    .where('scope', '=', column === 'plan_id' ? 'PLAN' : 'SUBSCRIPTION')
    .where('status', '=', 'published')
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}

/** Inserts the application unless the (subscription, grant, period) already has one; returns the stored row. */
export async function ensureApplication(db: Executor, row: Insertable<CreditGrantApplicationsTable>) {
  await db
    .insertInto('credit_grant_applications')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'environment_id', 'subscription_id', 'credit_grant_id', 'period_start']).doNothing(),
    )
    .execute();
  return db
    .selectFrom('credit_grant_applications')
    .selectAll()
    .where('tenant_id', '=', row.tenant_id)
    .where('environment_id', '=', row.environment_id)
    .where('subscription_id', '=', row.subscription_id)
    .where('credit_grant_id', '=', row.credit_grant_id)
    .where('period_start', '=', row.period_start as Date)
    .forUpdate()
    .executeTakeFirstOrThrow();
}

export function updateApplication(
  db: Executor,
  id: string,
  changes: Partial<Insertable<CreditGrantApplicationsTable>>,
) {
  return db
    .updateTable('credit_grant_applications')
    .set(changes)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function listApplications(
  db: Executor,
  scope: Scope,
  subscriptionId: string,
  filter: { statuses?: string[] } = {},
) {
  let query = db
    .selectFrom('credit_grant_applications')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('subscription_id', '=', subscriptionId)
    .where('status', '=', 'published');
  if (filter.statuses) query = query.where('application_status', 'in', filter.statuses);
  return query.orderBy('scheduled_for', 'asc').orderBy('id', 'asc').execute();
}

/**
 * The reference's `active_subscription` expiry rule (§2.8): the customer has an `active` subscription whose current
 * period has ended (the billing job has not invoiced it yet).
 */
export async function hasLaggingSubscription(db: Executor, scope: Scope, customerId: string, now: Date) {
  const row = await db
    .selectFrom('subscriptions')
    .select('id')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', customerId)
    .where('status', '=', 'published')
    .where('subscription_status', '=', 'active')
    .where('current_period_end', '<', now)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
