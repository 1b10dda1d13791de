import type { ExpressionBuilder, Insertable, Selectable, Updateable } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import {
  applyFilters,
  applySort,
  type FieldMap,
  type FilterCondition,
  type SortCondition,
} from '../../platform/db/query.ts';
import type { Database, SubscriptionLineItemsTable, SubscriptionsTable } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';
import { listLiveBy } from '../../platform/db/scoped.ts';

export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type LineItemRow = Selectable<SubscriptionLineItemsTable>;

/** Live (not yet ended) subscription statuses: they block deleting their plan or customer. */
export const LIVE_STATUSES = ['active', 'trialing', 'paused', 'incomplete', 'draft'];

export const SUBSCRIPTION_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  customer_id: { column: 'customer_id', type: 'string' },
  plan_id: { column: 'plan_id', type: 'string' },
  lookup_key: { column: 'lookup_key', type: 'string' },
  currency: { column: 'currency', type: 'string' },
  billing_period: { column: 'billing_period', type: 'string' },
  billing_period_count: { column: 'billing_period_count', type: 'number' },
  billing_cycle: { column: 'billing_cycle', type: 'string' },
  subscription_status: { column: 'subscription_status', type: 'string' },
  start_date: { column: 'start_date', type: 'date' },
  end_date: { column: 'end_date', type: 'date' },
  current_period_start: { column: 'current_period_start', type: 'date' },
  current_period_end: { column: 'current_period_end', type: 'date' },
  status: { column: 'status', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
};

export function insertSubscription(db: Executor, row: Insertable<SubscriptionsTable>) {
  return db.insertInto('subscriptions').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function insertLineItems(db: Executor, rows: Array<Insertable<SubscriptionLineItemsTable>>) {
  if (rows.length === 0) return [];
  return db.insertInto('subscription_line_items').values(rows).returningAll().execute();
}

export function findSubscriptionById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db
    .selectFrom('subscriptions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published');
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function updateSubscriptionById(
  db: Executor,
  scope: Scope,
  id: string,
  changes: Updateable<SubscriptionsTable>,
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

/** Ends the given line items at `at` (a plan change ending the old plan's items). */
export async function endLineItems(db: Executor, scope: Scope, ids: string[], at: Date, now: Date) {
  if (ids.length === 0) return;
  await db
    .updateTable('subscription_line_items')
    .set({ end_date: at, updated_at: now })
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', 'in', ids)
    .execute();
}

/** Live line items of the subscriptions, oldest first. */
export function findLineItems(db: Executor, scope: Scope, subscriptionIds: string[]) {
  return listLiveBy(db, 'subscription_line_items', scope, 'subscription_id', subscriptionIds);
}

/** Whether a live subscription refers to the plan / belongs to the customer. */
export async function hasLiveSubscription(db: Executor, scope: Scope, column: 'plan_id' | 'customer_id', id: string) {
  const row = await db
    .selectFrom('subscriptions')
    .select('id')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(column, '=', id)
    .where('status', '=', 'published')
    .where('subscription_status', 'in', LIVE_STATUSES)
    .limit(1)
    .executeTakeFirst();
  return Boolean(row);
}

export interface SubscriptionFilter {
  limit: number;
  offset: number;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  subscription_ids?: string[] | undefined;
  customer_ids?: string[] | undefined;
  plan_id?: string | undefined;
  subscription_status?: string[] | undefined;
  billing_period?: string[] | undefined;
  active_at?: Date | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
}

const nonEmpty = (values: string[]) => (values.length ? values : ['']);

export async function listSubscriptions(db: Executor, scope: Scope, filter: SubscriptionFilter) {
  let query = db
    .selectFrom('subscriptions')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', filter.status ?? 'published');
  if (filter.subscription_ids) query = query.where('id', 'in', nonEmpty(filter.subscription_ids));
  if (filter.customer_ids) query = query.where('customer_id', 'in', nonEmpty(filter.customer_ids));
  if (filter.plan_id !== undefined) query = query.where('plan_id', '=', filter.plan_id);
  if (filter.subscription_status?.length) {
    query = query.where('subscription_status', 'in', filter.subscription_status);
  }
  if (filter.billing_period?.length) query = query.where('billing_period', 'in', filter.billing_period);
  if (filter.active_at) {
    const at = filter.active_at;
    query = query
      .where('start_date', '<=', at)
      .where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', at)]));
  }
  if (filter.start_time) query = query.where('created_at', '>=', new Date(filter.start_time));
  if (filter.end_time) query = query.where('created_at', '<=', new Date(filter.end_time));
  query = applyFilters(query, filter.filters, SUBSCRIPTION_FIELDS, 'subscription');
  const [countRow, rows] = await Promise.all([
    query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    applySort(query.selectAll(), filter.sort, filter.order, SUBSCRIPTION_FIELDS, 'subscription')
      .limit(filter.limit)
      .offset(filter.offset)
      .execute(),
  ]);
  return { rows, total: Number(countRow.total) };
}

/**
 * A live customer (by id or external id) with its subscriptions in `statuses`, oldest first, in one statement (the
 * entitlement and usage-summary reads are latency-sensitive). Undefined when the customer does not exist.
 */
export async function findCustomerWithSubscriptions(
  db: Executor,
  scope: Scope,
  ref: { id?: string | undefined; externalId?: string | undefined },
  statuses: string[],
): Promise<
  { id: string; externalId: string; subscriptions: SubscriptionRow[]; planNames: Map<string, string> } | undefined
> {
  const rows = await db
    .selectFrom('customers as c')
    .leftJoin('subscriptions as s', (join) =>
      join
        .onRef('s.tenant_id', '=', 'c.tenant_id')
        .onRef('s.environment_id', '=', 'c.environment_id')
        .onRef('s.customer_id', '=', 'c.id')
        .on('s.status', '=', 'published')
        .on('s.subscription_status', 'in', statuses),
    )
    .selectAll('s')
    .select(['c.id as customer_row_id', 'c.external_id as customer_external_id'])
    .select((eb) =>
      eb
        .selectFrom('plans as p')
        .select('p.name')
        .whereRef('p.tenant_id', '=', 'c.tenant_id')
        .whereRef('p.environment_id', '=', 'c.environment_id')
        .whereRef('p.id', '=', 's.plan_id')
        .as('plan_name'),
    )
    .where('c.tenant_id', '=', scope.tenantId)
    .where('c.environment_id', '=', scope.environmentId)
    .where('c.status', '=', 'published')
    .where(ref.id !== undefined ? 'c.id' : 'c.external_id', '=', ref.id ?? ref.externalId ?? '')
    .orderBy('s.created_at', 'asc')
    .orderBy('s.id', 'asc')
    .execute();
  const first = rows[0];
  if (!first) return undefined;
  const live = rows.filter((r) => r.id !== null);
  const subscriptions = live.map(
    ({ customer_row_id: _id, customer_external_id: _external, plan_name: _plan, ...s }) =>
      s as unknown as SubscriptionRow,
  );
  const planNames = new Map(live.map((r) => [r.plan_id!, r.plan_name ?? '']));
  return { id: first.customer_row_id, externalId: first.customer_external_id, subscriptions, planNames };
}

/**
 * A subscription that renews at its current period end: the period ends after `now` and by `horizon`, it is active or
 * trialing, it does not end or cancel at (or before) that period end, and renewal.due was not sent for that period.
 */
function renewsWithin(eb: ExpressionBuilder<Database, 'subscriptions'>, window: { now: Date; horizon: Date }) {
  return eb.and([
    eb('status', '=', 'published'),
    eb('subscription_status', 'in', ['active', 'trialing']),
    eb('current_period_end', '>', window.now),
    eb('current_period_end', '<=', window.horizon),
    eb('cancel_at_period_end', '=', false),
    eb.or([eb('end_date', 'is', null), eb('end_date', '>', eb.ref('current_period_end'))]),
    eb.or([eb('cancel_at', 'is', null), eb('cancel_at', '>', eb.ref('current_period_end'))]),
    eb.or([
      eb('renewal_due_notified_for', 'is', null),
      eb('renewal_due_notified_for', '<>', eb.ref('current_period_end')),
    ]),
  ]);
}

/** Subscriptions (every tenant) whose renewal.due is due, soonest period end first. */
export function listRenewalsDue(db: Executor, window: { now: Date; horizon: Date; limit: number }) {
  return db
    .selectFrom('subscriptions')
    .select(['id', 'tenant_id', 'environment_id'])
    .where((eb) => renewsWithin(eb, window))
    .orderBy('current_period_end', 'asc')
    .orderBy('id', 'asc')
    .limit(window.limit)
    .execute();
}

/** Locks the subscription while its renewal.due is still due; skipped when another transaction holds it. */
export function claimRenewalDue(db: Executor, scope: Scope, id: string, window: { now: Date; horizon: Date }) {
  return db
    .selectFrom('subscriptions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where((eb) => renewsWithin(eb, window))
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
}
