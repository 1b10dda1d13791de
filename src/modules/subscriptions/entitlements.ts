import { type RawBuilder, sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import type * as catalogRepo from '../catalog/catalog.repo.ts';
import { type FeatureView, featureView } from '../catalog/features.service.ts';
import { meterView, type MeterView } from '../catalog/meters.service.ts';
import type { SubscriptionRow } from './subscriptions.repo.ts';

/**
 * Entitlement aggregation (reference behaviour §5.4): what a subscription, or all live subscriptions of a customer,
 * grant per feature. Sources per subscription: its plan's entitlements and its own (SUBSCRIPTION-scoped ones active
 * now); a subscription entitlement with `parent_entitlement_id` replaces that plan entitlement. Disabled
 * entitlements are ignored. Addons attached to the subscription (associations in effect at `at`) add their
 * entitlements, one source per association; a subscription entitlement can replace an addon's as a plan's.
 */
export interface EntitlementSourceView {
  subscription_id: string;
  entity_id: string;
  entity_type: 'plan' | 'addon' | 'subscription';
  entity_name: string;
  quantity: number;
  entitlement_id: string;
  is_enabled: boolean;
  usage_limit?: number | null;
  usage_reset_period?: string;
  static_value?: string;
  config_value?: Record<string, unknown>;
}

export interface AggregatedFeatureView {
  feature: FeatureView;
  entitlement: {
    is_enabled: boolean;
    usage_limit?: number | null;
    is_soft_limit: boolean;
    usage_reset_period?: string;
    static_values: string[];
    config_values: Array<Record<string, unknown>>;
    aggregation_mode: 'additive' | 'parallel';
    buckets: Array<{ entitlement_id: string; source_entity_id: string; usage_limit: number | null }>;
  };
  sources: EntitlementSourceView[];
}

/** The entitlement fields the aggregation reads (a row of `entitlements`, as the grants statement returns it). */
interface GrantRow {
  id: string;
  entity_type: string;
  entity_id: string;
  feature_id: string;
  feature_type: string;
  is_enabled: boolean;
  /** bigint as text; null = unlimited */
  usage_limit: string | null;
  usage_reset_period: string;
  is_soft_limit: boolean;
  static_value: string;
  config_value: Record<string, unknown> | null;
  parent_entitlement_id: string | null;
  aggregation_mode: string;
  start_date: Date | null;
  end_date: Date | null;
}

/**
 * Everything the subscriptions in `subs` (a relation with columns `id` and `plan_id`) are granted, read in one
 * statement and returned as one JSON value: the live plan, subscription and addon entitlements (oldest first) whose
 * feature is live, those features and their live meters, the addon associations in effect at `at` whose addon is
 * live (oldest first, with the addon's name), and the names of the live plans. One JSON value instead of rows: on
 * this hot path the driver's per-row, per-column work (and on the embedded engine the protocol round trip of every
 * row) cost more than the query itself.
 */
function grantsJson(scope: Scope, subs: RawBuilder<unknown>, at: Date): RawBuilder<unknown> {
  const t = scope.tenantId;
  const env = scope.environmentId;
  return sql`(
    with gs as materialized (select id, plan_id from ${subs}),
    a as materialized (
      select aa.id, aa.entity_id, aa.addon_id, aa.created_at, ad.name as addon_name
      from addon_associations aa
      join addons ad on ad.tenant_id = aa.tenant_id and ad.environment_id = aa.environment_id and ad.id = aa.addon_id
                    and ad.status = 'published'
      where aa.tenant_id = ${t} and aa.environment_id = ${env} and aa.entity_id = any(array(select id from gs))
        and aa.status = 'published' and aa.start_date <= ${at} and (aa.end_date is null or aa.end_date > ${at})
    ),
    e as materialized (
      select e.* from entitlements e
      where e.tenant_id = ${t} and e.environment_id = ${env} and e.status = 'published'
        and e.entity_type = 'PLAN' and e.entity_id = any(array(select plan_id from gs))
      union all
      select e.* from entitlements e
      where e.tenant_id = ${t} and e.environment_id = ${env} and e.status = 'published'
        and e.entity_type = 'SUBSCRIPTION' and e.entity_id = any(array(select id from gs))
      union all
      select e.* from entitlements e
      where e.tenant_id = ${t} and e.environment_id = ${env} and e.status = 'published'
        and e.entity_type = 'ADDON' and e.entity_id = any(array(select addon_id from a))
    ),
    f as materialized (
      select f.* from features f
      where f.id = any(array(select feature_id from e))
        and f.tenant_id = ${t} and f.environment_id = ${env} and f.status = 'published'
    )
    select json_build_object(
      'e', (select json_agg(json_build_array(e.id, e.entity_type, e.entity_id, e.feature_id, e.feature_type,
                                             e.is_enabled, e.usage_limit::text, e.usage_reset_period,
                                             e.is_soft_limit, e.static_value, e.config_value,
                                             e.parent_entitlement_id, e.aggregation_mode, e.start_date, e.end_date)
                            order by e.created_at, e.id)
            from e where e.feature_id = any(array(select id from f))),
      'f', (select json_agg(f) from f),
      'm', (select json_agg(m) from meters m
            where m.id = any(array(select meter_id from f))
              and m.tenant_id = ${t} and m.environment_id = ${env} and m.status = 'published'),
      'a', (select json_agg(json_build_array(a.entity_id, a.addon_id, a.addon_name) order by a.created_at, a.id)
            from a),
      'p', (select json_agg(json_build_array(p.id, p.name)) from plans p
            where p.id = any(array(select plan_id from gs))
              and p.tenant_id = ${t} and p.environment_id = ${env} and p.status = 'published')
    )
  )`;
}

type Json = Record<string, unknown>;
type GrantsJson = {
  e: unknown[][] | null;
  f: Json[] | null;
  m: Json[] | null;
  a: Array<[string, string, string]> | null;
  p: Array<[string, string]> | null;
};

/** What grantsJson read, ready for the aggregation. */
export interface Grants {
  entitlements: GrantRow[];
  features: Map<string, FeatureView>;
  associations: Array<{ entity_id: string; addon_id: string; addon_name: string }>;
  /** live plans' names */
  planNames: Map<string, string>;
}

const dateOrNull = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string));

/** A features or meters row read as JSON back in the driver's shape: timestamps as Dates. */
function rehydrate(row: Json): Json {
  return { ...row, created_at: new Date(row.created_at as string), updated_at: new Date(row.updated_at as string) };
}

function parseGrants(value: unknown): Grants {
  const json = (typeof value === 'string' ? JSON.parse(value) : value) as GrantsJson;
  const meters = new Map<string, MeterView>();
  for (const m of json.m ?? []) meters.set(m.id as string, meterView(rehydrate(m) as catalogRepo.Row<'meters'>));
  const features = new Map<string, FeatureView>();
  for (const f of json.f ?? []) {
    const meter = f.meter_id ? meters.get(f.meter_id as string) : undefined;
    features.set(f.id as string, featureView(rehydrate(f) as catalogRepo.Row<'features'>, meter));
  }
  const entitlements = (json.e ?? []).map((e): GrantRow => ({
    id: e[0] as string,
    entity_type: e[1] as string,
    entity_id: e[2] as string,
    feature_id: e[3] as string,
    feature_type: e[4] as string,
    is_enabled: e[5] as boolean,
    usage_limit: e[6] as string | null,
    usage_reset_period: e[7] as string,
    is_soft_limit: e[8] as boolean,
    static_value: e[9] as string,
    config_value: e[10] as Record<string, unknown> | null,
    parent_entitlement_id: e[11] as string | null,
    aggregation_mode: e[12] as string,
    start_date: dateOrNull(e[13]),
    end_date: dateOrNull(e[14]),
  }));
  return {
    entitlements,
    features,
    associations: (json.a ?? []).map(([entity_id, addon_id, addon_name]) => ({ entity_id, addon_id, addon_name })),
    planNames: new Map(json.p ?? []),
  };
}

/** The grants of some subscriptions (one statement). */
async function loadGrants(executor: Executor, scope: Scope, subscriptions: SubscriptionRow[], at: Date) {
  const subs = sql`unnest(${subscriptions.map((s) => s.id)}::text[], ${subscriptions.map((s) => s.plan_id)}::text[])
                   as x(id, plan_id)`;
  const result = await sql<{ grants: unknown }>`select ${grantsJson(scope, subs, at)} as grants`.execute(executor);
  return parseGrants(result.rows[0]!.grants);
}

/**
 * A customer (by id or external id, live only) with its subscriptions in `statuses` (oldest first, with their plan's
 * name) and everything those subscriptions are granted at `at`: one statement. Undefined for an unknown customer.
 */
export async function loadCustomerGrants(
  executor: Executor,
  scope: Scope,
  ref: { id?: string | undefined; externalId?: string | undefined },
  statuses: string[],
  at: Date,
): Promise<
  | { id: string; externalId: string; subscriptions: SubscriptionRow[]; planNames: Map<string, string>; grants: Grants }
  | undefined
> {
  const t = scope.tenantId;
  const env = scope.environmentId;
  const match = ref.id !== undefined ? sql`c.id = ${ref.id}` : sql`c.external_id = ${ref.externalId ?? ''}`;
  const result = await sql<
    SubscriptionRow & {
      customer_row_id: string;
      customer_external_id: string;
      plan_name: string | null;
      grants: unknown;
    }
  >`
    with c as (
      select c.id, c.external_id from customers c
      where c.tenant_id = ${t} and c.environment_id = ${env} and c.status = 'published' and ${match}
    ),
    s as materialized (
      select s.*, (select p.name from plans p
                   where p.tenant_id = s.tenant_id and p.environment_id = s.environment_id and p.id = s.plan_id)
                  as plan_name
      from subscriptions s
      where s.tenant_id = ${t} and s.environment_id = ${env} and s.customer_id in (select id from c)
        and s.status = 'published' and s.subscription_status in (${sql.join(statuses)})
    )
    select s.*, c.id as customer_row_id, c.external_id as customer_external_id,
           -- the grants once, on the first row (evaluated once either way: it does not depend on the row)
           case when row_number() over (order by s.created_at, s.id) = 1 then ${grantsJson(scope, sql`s`, at)} end
             as grants
    from c left join s on true
    order by s.created_at, s.id`.execute(executor);
  const first = result.rows[0];
  if (!first) return undefined;
  const live = result.rows.filter((r) => r.id !== null);
  const subscriptions = live.map(
    ({ customer_row_id: _id, customer_external_id: _external, plan_name: _plan, grants: _grants, ...s }) =>
      s as unknown as SubscriptionRow,
  );
  return {
    id: first.customer_row_id,
    externalId: first.customer_external_id,
    subscriptions,
    planNames: new Map(live.map((r) => [r.plan_id, r.plan_name ?? ''])),
    grants: parseGrants(first.grants),
  };
}

const isActiveAt = (row: GrantRow, at: Date) =>
  (!row.start_date || row.start_date.getTime() <= at.getTime()) &&
  (!row.end_date || row.end_date.getTime() > at.getTime());

/** The most frequent value; ties go to the value seen first. */
function mostFrequent(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [value, count] of counts) if (best === undefined || count > (counts.get(best) ?? 0)) best = value;
  return best;
}

export async function aggregateEntitlements(
  executor: Executor,
  scope: Scope,
  subscriptions: SubscriptionRow[],
  options: {
    at: Date;
    featureIds?: string[] | undefined;
    /** plan id → name when the caller already read them */
    planNames?: Map<string, string> | undefined;
  },
): Promise<AggregatedFeatureView[]> {
  if (subscriptions.length === 0) return [];
  const grants = await loadGrants(executor, scope, subscriptions, options.at);
  return aggregateGrants(subscriptions, grants, options);
}

/** The aggregation (§5.4) of what `grants` (read for `subscriptions`) holds: no database access. */
export function aggregateGrants(
  subscriptions: SubscriptionRow[],
  grants: Grants,
  options: { at: Date; featureIds?: string[] | undefined; planNames?: Map<string, string> | undefined },
): AggregatedFeatureView[] {
  const { features } = grants;
  const planNames = options.planNames ?? grants.planNames;
  const planEntitlements: GrantRow[] = [];
  const subscriptionEntitlements: GrantRow[] = [];
  const addonEntitlements: GrantRow[] = [];
  for (const row of grants.entitlements) {
    if (row.entity_type === 'PLAN') planEntitlements.push(row);
    else if (row.entity_type === 'SUBSCRIPTION') subscriptionEntitlements.push(row);
    else addonEntitlements.push(row);
  }
  const addonNames = new Map(grants.associations.map((a) => [a.addon_id, a.addon_name]));
  const wanted = options.featureIds?.length ? new Set(options.featureIds) : undefined;

  const byFeature = new Map<string, Array<{ row: GrantRow; source: EntitlementSourceView }>>();
  for (const subscription of subscriptions) {
    const own = subscriptionEntitlements.filter((e) => e.entity_id === subscription.id && isActiveAt(e, options.at));
    const replaced = new Set(own.flatMap((e) => (e.parent_entitlement_id ? [e.parent_entitlement_id] : [])));
    const inherited = planEntitlements.filter((e) => e.entity_id === subscription.plan_id && !replaced.has(e.id));
    const fromAddons = grants.associations
      .filter((a) => a.entity_id === subscription.id)
      .flatMap((a) => addonEntitlements.filter((e) => e.entity_id === a.addon_id && !replaced.has(e.id)));
    for (const row of [...inherited, ...fromAddons, ...own]) {
      if (!row.is_enabled || (wanted && !wanted.has(row.feature_id))) continue;
      const entityType = row.entity_type === 'PLAN' ? 'plan' : row.entity_type === 'ADDON' ? 'addon' : 'subscription';
      const source: EntitlementSourceView = {
        subscription_id: subscription.id,
        entity_id: row.entity_id,
        entity_type: entityType,
        entity_name:
          entityType === 'addon' ? (addonNames.get(row.entity_id) ?? '') : (planNames.get(subscription.plan_id) ?? ''),
        quantity: 1,
        entitlement_id: row.id,
        is_enabled: row.is_enabled,
        ...(row.feature_type === 'metered'
          ? { usage_limit: row.usage_limit === null ? null : Number(row.usage_limit) }
          : {}),
        ...(row.usage_reset_period ? { usage_reset_period: row.usage_reset_period } : {}),
        ...(row.static_value ? { static_value: row.static_value } : {}),
        ...(row.config_value ? { config_value: row.config_value } : {}),
      };
      const list = byFeature.get(row.feature_id) ?? [];
      list.push({ row, source });
      byFeature.set(row.feature_id, list);
    }
  }

  const out: AggregatedFeatureView[] = [];
  for (const [featureId, entries] of byFeature) {
    const feature = features.get(featureId);
    if (!feature) continue; // an archived feature grants nothing (the statement leaves its entitlements out)
    const rows = entries.map((e) => e.row);
    const metered = feature.type === 'metered';
    const unlimited = rows.some((r) => r.usage_limit === null);
    const limit = rows.reduce((sum, r) => sum + BigInt(r.usage_limit ?? 0), 0n);
    const parallel = rows.some((r) => r.aggregation_mode === 'parallel');
    const resetPeriod = metered
      ? mostFrequent(rows.flatMap((r) => (r.usage_reset_period ? [r.usage_reset_period] : [])))
      : undefined;
    out.push({
      feature,
      entitlement: {
        is_enabled: rows.some((r) => r.is_enabled),
        ...(metered ? { usage_limit: unlimited ? null : Number(limit) } : {}),
        is_soft_limit: metered && rows.some((r) => r.is_soft_limit),
        ...(resetPeriod ? { usage_reset_period: resetPeriod } : {}),
        static_values:
          feature.type === 'static' ? [...new Set(rows.map((r) => r.static_value).filter((v) => v !== ''))] : [],
        config_values: feature.type === 'config' ? rows.flatMap((r) => (r.config_value ? [r.config_value] : [])) : [],
        aggregation_mode: parallel ? 'parallel' : 'additive',
        buckets: parallel
          ? rows.map((r) => ({
              entitlement_id: r.id,
              source_entity_id: r.entity_id,
              usage_limit: r.usage_limit === null ? null : Number(r.usage_limit),
            }))
          : [],
      },
      sources: entries.map((e) => e.source),
    });
  }
  return out.sort((a, b) => a.feature.name.localeCompare(b.feature.name) || a.feature.id.localeCompare(b.feature.id));
}
