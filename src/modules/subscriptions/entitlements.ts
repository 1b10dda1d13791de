import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import * as catalogRepo from '../catalog/catalog.repo.ts';
import { type FeatureView, featureView } from '../catalog/features.service.ts';
import { meterView } from '../catalog/meters.service.ts';
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

type EntitlementRow = catalogRepo.Row<'entitlements'>;
type JsonRow = Record<string, unknown>;

/** A features or meters row read as JSON (to_jsonb) back in the driver's shape: timestamps as Dates. */
function rehydrate(row: JsonRow): JsonRow {
  return {
    ...row,
    created_at: new Date(row.created_at as string),
    updated_at: new Date(row.updated_at as string),
  };
}

const isActiveAt = (row: EntitlementRow, at: Date) =>
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
    /** plan id → name when the caller already read them (saves a statement) */
    planNames?: Map<string, string> | undefined;
  },
): Promise<AggregatedFeatureView[]> {
  if (subscriptions.length === 0) return [];
  const planIds = [...new Set(subscriptions.map((s) => s.plan_id))];
  const subscriptionIds = subscriptions.map((s) => s.id);
  // Plan and subscription entitlements with their (live) features and meters in one statement: this read is on the
  // entitlement-check hot path, and on the embedded engine every statement costs milliseconds of CPU.
  const [plans, sourceRows] = await Promise.all([
    options.planNames
      ? [...options.planNames].map(([id, name]) => ({ id, name }))
      : catalogRepo.findRowsByIds(executor, 'plans', scope, planIds),
    sql<EntitlementRow & { feature_json: JsonRow; meter_json: JsonRow | null }>`
      select e.*, to_jsonb(f) as feature_json, to_jsonb(m) as meter_json
      from entitlements e
      join features f on f.tenant_id = e.tenant_id and f.environment_id = e.environment_id and f.id = e.feature_id
                     and f.status = 'published'
      left join meters m on m.tenant_id = f.tenant_id and m.environment_id = f.environment_id and m.id = f.meter_id
                        and m.status = 'published'
      where e.tenant_id = ${scope.tenantId} and e.environment_id = ${scope.environmentId} and e.status = 'published'
        and ((e.entity_type = 'PLAN' and e.entity_id in (${sql.join(planIds)}))
             or (e.entity_type = 'SUBSCRIPTION' and e.entity_id in (${sql.join(subscriptionIds)})))
      order by e.created_at, e.id`
      .execute(executor)
      .then((r) => r.rows),
  ]);
  const planEntitlements = sourceRows.filter((e) => e.entity_type === 'PLAN');
  const subscriptionEntitlements = sourceRows.filter((e) => e.entity_type === 'SUBSCRIPTION');
  const planNames = new Map(plans.map((p) => [p.id, p.name]));
  const associations = await executor
    .selectFrom('addon_associations')
    .select(['id', 'entity_id', 'addon_id'])
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(
      'entity_id',
      'in',
      subscriptions.map((s) => s.id),
    )
    .where('status', '=', 'published')
    .where('start_date', '<=', options.at)
    .where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', options.at)]))
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
  const addonIds = [...new Set(associations.map((a) => a.addon_id))];
  const [addons, addonEntitlements] = addonIds.length
    ? await Promise.all([
        catalogRepo.findRowsByIds(executor, 'addons', scope, addonIds),
        catalogRepo.findRowsByColumn(executor, 'entitlements', scope, 'entity_id', addonIds, [
          catalogRepo.equals('entity_type', 'ADDON'),
        ]),
      ])
    : [[], []];
  const addonNames = new Map(addons.map((a) => [a.id, a.name]));
  const wanted = options.featureIds?.length ? new Set(options.featureIds) : undefined;

  const byFeature = new Map<string, Array<{ row: EntitlementRow; source: EntitlementSourceView }>>();
  for (const subscription of subscriptions) {
    const own = subscriptionEntitlements.filter((e) => e.entity_id === subscription.id && isActiveAt(e, options.at));
    const replaced = new Set(own.flatMap((e) => (e.parent_entitlement_id ? [e.parent_entitlement_id] : [])));
    const inherited = planEntitlements.filter((e) => e.entity_id === subscription.plan_id && !replaced.has(e.id));
    const fromAddons = associations
      .filter((a) => a.entity_id === subscription.id && addonNames.has(a.addon_id))
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
        ...(row.config_value ? { config_value: row.config_value as Record<string, unknown> } : {}),
      };
      const list = byFeature.get(row.feature_id) ?? [];
      list.push({ row, source });
      byFeature.set(row.feature_id, list);
    }
  }

  const features = new Map<string, FeatureView>();
  for (const row of sourceRows) {
    if (features.has(row.feature_id)) continue;
    const meter = row.meter_json ? meterView(rehydrate(row.meter_json) as catalogRepo.Row<'meters'>) : undefined;
    features.set(row.feature_id, featureView(rehydrate(row.feature_json) as catalogRepo.Row<'features'>, meter));
  }
  // Features only addons grant were not in the plan/subscription statement: read those (live ones) too.
  const addonOnly = [...byFeature.keys()].filter((id) => !features.has(id));
  if (addonOnly.length > 0) {
    const featureRows = await catalogRepo.findRowsByIds(executor, 'features', scope, addonOnly);
    const meterIds = featureRows.flatMap((f) => (f.meter_id ? [f.meter_id as string] : []));
    const meterRows = await catalogRepo.findRowsByIds(executor, 'meters', scope, meterIds);
    const metersById = new Map(meterRows.map((m) => [m.id, meterView(m)]));
    for (const row of featureRows) {
      features.set(row.id, featureView(row, row.meter_id ? metersById.get(row.meter_id as string) : undefined));
    }
  }

  const out: AggregatedFeatureView[] = [];
  for (const [featureId, entries] of byFeature) {
    const feature = features.get(featureId);
    if (!feature) continue; // an archived feature grants nothing
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
        config_values:
          feature.type === 'config'
            ? rows.flatMap((r) => (r.config_value ? [r.config_value as Record<string, unknown>] : []))
            : [],
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
