import type { Executor } from '../../platform/db/database.ts';
import type { PriceTierColumn } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';
import { toWire } from '../../platform/money.ts';
import { auditView, type AuditView, isoOrUndefined, wireOrUndefined } from './catalog.common.ts';
import * as repo from './catalog.repo.ts';
import { featureView, type FeatureView } from './features.service.ts';
import { meterView, type MeterView } from './meters.service.ts';
import type { PricingSpec } from './pricing.ts';

/**
 * Row → API view for plans, addons, price units, prices, entitlements and credit grants, and the loaders that
 * expand a plan or addon with its children (responses, clone, and the entitlement webhook payload).
 */

export interface PriceTierView {
  up_to?: number;
  unit_amount: string;
  flat_amount?: string;
}

export interface PriceView extends AuditView {
  id: string;
  entity_type: string;
  entity_id: string;
  type: string;
  billing_model: string;
  billing_cadence: string;
  billing_period: string;
  billing_period_count: number;
  invoice_cadence: string;
  currency: string;
  amount: string;
  display_amount: string;
  price_unit_type: string;
  price_unit_id?: string;
  price_unit?: string;
  price_unit_amount?: string;
  display_price_unit_amount?: string;
  price_unit_tiers?: PriceTierView[];
  conversion_rate?: string;
  tier_mode?: string;
  tiers?: PriceTierView[];
  transform_quantity?: { divide_by: number; round: string };
  meter_id: string;
  meter?: MeterView;
  filter_values?: Record<string, string[]>;
  lookup_key: string;
  trial_period_days: number;
  /** the same value under the name the SDK and the seed pages use */
  trial_period: number;
  min_quantity?: string;
  description: string;
  display_name: string;
  group_id: string;
  parent_price_id?: string;
  start_date?: string;
  end_date?: string;
  metadata: Record<string, string>;
  /** the custom unit itself (CUSTOM prices only) */
  pricing_unit?: PriceUnitView;
  /** the owning plan or addon without its children (absent when the price is nested in that owner) */
  plan?: PlanView;
  addon?: AddonView;
}

export interface PriceUnitView extends AuditView {
  id: string;
  name: string;
  code: string;
  symbol: string;
  base_currency: string;
  conversion_rate: string;
  metadata: Record<string, string>;
}

export interface CreditGrantView extends AuditView {
  id: string;
  name: string;
  scope: string;
  plan_id?: string;
  addon_id?: string;
  subscription_id?: string;
  credits: string;
  cadence: string;
  period?: string;
  period_count?: number;
  expiration_type: string;
  expiration_duration?: number;
  expiration_duration_unit?: string;
  priority?: number;
  conversion_rate?: string;
  topup_conversion_rate?: string;
  start_date?: string;
  end_date?: string;
  credit_grant_anchor?: string;
  metadata: Record<string, string>;
}

export interface EntitlementView extends AuditView {
  id: string;
  entity_type: string;
  entity_id: string;
  plan_id?: string;
  feature_id: string;
  feature_type: string;
  feature?: FeatureView;
  is_enabled: boolean;
  usage_limit: number | null;
  usage_reset_period?: string;
  is_soft_limit: boolean;
  static_value: string;
  config_value?: Record<string, unknown>;
  display_order: number;
  parent_entitlement_id?: string;
  aggregation_mode: string;
  start_date?: string;
  end_date?: string;
  plan?: PlanView;
  addon?: AddonView;
}

export interface PlanView extends AuditView {
  id: string;
  name: string;
  lookup_key: string;
  description: string;
  display_order: number;
  metadata: Record<string, string>;
  prices?: PriceView[];
  entitlements?: EntitlementView[];
  credit_grants?: CreditGrantView[];
}

export interface AddonView extends AuditView {
  id: string;
  name: string;
  lookup_key: string;
  description: string;
  type: string;
  metadata: Record<string, unknown>;
  prices?: PriceView[];
  entitlements?: EntitlementView[];
  credit_grants?: CreditGrantView[];
}

const CURRENCY_SYMBOL: Record<string, string> = { usd: '$', eur: '€', gbp: '£', inr: '₹', jpy: '¥', cny: '¥' };

export function displayAmount(amount: string, currency: string): string {
  return `${CURRENCY_SYMBOL[currency.toLowerCase()] ?? `${currency.toUpperCase()} `}${amount}`;
}

function tiersView(tiers: PriceTierColumn[] | null): PriceTierView[] | undefined {
  if (!tiers) return undefined;
  return tiers.map((t) => ({
    ...(t.up_to !== null ? { up_to: t.up_to } : {}),
    unit_amount: t.unit_amount,
    ...(t.flat_amount !== undefined ? { flat_amount: t.flat_amount } : {}),
  }));
}

export function priceView(row: repo.Row<'prices'>, meter?: MeterView): PriceView {
  const amount = toWire(row.amount);
  const custom = row.price_unit_type === 'CUSTOM';
  const priceUnitAmount = wireOrUndefined(row.price_unit_amount);
  return {
    id: row.id,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    type: row.type,
    billing_model: row.billing_model,
    billing_cadence: row.billing_cadence,
    billing_period: row.billing_period,
    billing_period_count: row.billing_period_count,
    invoice_cadence: row.invoice_cadence,
    currency: row.currency,
    amount,
    display_amount: displayAmount(amount, row.currency),
    price_unit_type: row.price_unit_type,
    ...(custom
      ? {
          price_unit_id: row.price_unit_id ?? '',
          price_unit: row.price_unit ?? '',
          ...(priceUnitAmount !== undefined
            ? {
                price_unit_amount: priceUnitAmount,
                display_price_unit_amount: `${priceUnitAmount} ${row.price_unit ?? ''}`.trim(),
              }
            : {}),
          ...(row.price_unit_tiers ? { price_unit_tiers: tiersView(row.price_unit_tiers)! } : {}),
          ...(row.conversion_rate !== null ? { conversion_rate: toWire(row.conversion_rate) } : {}),
        }
      : {}),
    ...(row.tier_mode ? { tier_mode: row.tier_mode } : {}),
    ...(row.tiers ? { tiers: tiersView(row.tiers)! } : {}),
    ...(row.transform_quantity ? { transform_quantity: row.transform_quantity } : {}),
    meter_id: row.meter_id ?? '',
    ...(meter ? { meter } : {}),
    ...(row.filter_values ? { filter_values: row.filter_values } : {}),
    lookup_key: row.lookup_key,
    trial_period_days: row.trial_period_days,
    trial_period: row.trial_period_days,
    ...(row.min_quantity !== null ? { min_quantity: toWire(row.min_quantity) } : {}),
    description: row.description,
    display_name: row.display_name,
    group_id: row.group_id,
    ...(row.parent_price_id ? { parent_price_id: row.parent_price_id } : {}),
    ...(row.start_date ? { start_date: row.start_date.toISOString() } : {}),
    ...(row.end_date ? { end_date: row.end_date.toISOString() } : {}),
    metadata: row.metadata ?? {},
    ...auditView(row),
  };
}

/** What the pricing engine needs from a stored price (custom units priced in their unit, then converted). */
export function pricingSpecOf(row: repo.Row<'prices'>): PricingSpec {
  const custom = row.price_unit_type === 'CUSTOM' && row.conversion_rate !== null;
  const tiers = custom && row.price_unit_tiers ? row.price_unit_tiers : row.tiers;
  return {
    billing_model: row.billing_model as PricingSpec['billing_model'],
    amount: custom && row.price_unit_amount !== null ? row.price_unit_amount : row.amount,
    tier_mode: (row.tier_mode ?? undefined) as PricingSpec['tier_mode'],
    tiers: tiers ?? undefined,
    transform_quantity: row.transform_quantity
      ? { divide_by: row.transform_quantity.divide_by, round: row.transform_quantity.round === 'down' ? 'down' : 'up' }
      : undefined,
    currency: row.currency,
    ...(custom ? { conversion_rate: row.conversion_rate! } : {}),
  };
}

export function priceUnitView(row: repo.Row<'price_units'>): PriceUnitView {
  return {
    id: row.id,
    name: row.name,
    code: row.code,
    symbol: row.symbol,
    base_currency: row.base_currency,
    conversion_rate: toWire(row.conversion_rate),
    metadata: row.metadata ?? {},
    ...auditView(row),
  };
}

export function creditGrantView(row: repo.Row<'credit_grants'>): CreditGrantView {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    ...(row.plan_id ? { plan_id: row.plan_id } : {}),
    ...(row.addon_id ? { addon_id: row.addon_id } : {}),
    ...(row.subscription_id ? { subscription_id: row.subscription_id } : {}),
    credits: toWire(row.credits),
    cadence: row.cadence,
    ...(row.period ? { period: row.period } : {}),
    ...(row.period_count !== null ? { period_count: row.period_count } : {}),
    expiration_type: row.expiration_type,
    ...(row.expiration_duration !== null ? { expiration_duration: row.expiration_duration } : {}),
    ...(row.expiration_duration_unit ? { expiration_duration_unit: row.expiration_duration_unit } : {}),
    ...(row.priority !== null ? { priority: row.priority } : {}),
    ...(row.conversion_rate !== null ? { conversion_rate: toWire(row.conversion_rate) } : {}),
    ...(row.topup_conversion_rate !== null ? { topup_conversion_rate: toWire(row.topup_conversion_rate) } : {}),
    ...(row.start_date ? { start_date: row.start_date.toISOString() } : {}),
    ...(row.end_date ? { end_date: row.end_date.toISOString() } : {}),
    ...(row.credit_grant_anchor ? { credit_grant_anchor: row.credit_grant_anchor.toISOString() } : {}),
    metadata: row.metadata ?? {},
    ...auditView(row),
  };
}

export function entitlementView(row: repo.Row<'entitlements'>, feature?: FeatureView): EntitlementView {
  return {
    id: row.id,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    ...(row.entity_type === 'PLAN' ? { plan_id: row.entity_id } : {}),
    feature_id: row.feature_id,
    feature_type: row.feature_type,
    ...(feature ? { feature } : {}),
    is_enabled: row.is_enabled,
    usage_limit: row.usage_limit === null ? null : Number(row.usage_limit),
    ...(row.usage_reset_period ? { usage_reset_period: row.usage_reset_period } : {}),
    is_soft_limit: row.is_soft_limit,
    static_value: row.static_value,
    ...(row.config_value ? { config_value: row.config_value } : {}),
    display_order: row.display_order,
    ...(row.parent_entitlement_id ? { parent_entitlement_id: row.parent_entitlement_id } : {}),
    aggregation_mode: row.aggregation_mode,
    ...(isoOrUndefined(row.start_date) ? { start_date: isoOrUndefined(row.start_date)! } : {}),
    ...(isoOrUndefined(row.end_date) ? { end_date: isoOrUndefined(row.end_date)! } : {}),
    ...auditView(row),
  };
}

export function planView(row: repo.Row<'plans'>): PlanView {
  return {
    id: row.id,
    name: row.name,
    lookup_key: row.lookup_key,
    description: row.description,
    display_order: row.display_order,
    metadata: row.metadata ?? {},
    ...auditView(row),
  };
}

export function addonView(row: repo.Row<'addons'>): AddonView {
  return {
    id: row.id,
    name: row.name,
    lookup_key: row.lookup_key,
    description: row.description,
    type: row.type,
    metadata: row.metadata ?? {},
    ...auditView(row),
  };
}

/**
 * The plans and addons owning these prices or entitlements, as plain views (no children), keyed by id.
 * Other entity types (subscriptions) own nothing to attach.
 */
async function loadOwners(
  executor: Executor,
  scope: Scope,
  rows: Array<{ entity_type: string; entity_id: string }>,
): Promise<{ plans: Map<string, PlanView>; addons: Map<string, AddonView> }> {
  const idsOf = (type: string) => [...new Set(rows.filter((r) => r.entity_type === type).map((r) => r.entity_id))];
  const [planRows, addonRows] = await Promise.all([
    repo.findRowsByIds(executor, 'plans', scope, idsOf('PLAN')),
    repo.findRowsByIds(executor, 'addons', scope, idsOf('ADDON')),
  ]);
  return {
    plans: new Map(planRows.map((r) => [r.id, planView(r)])),
    addons: new Map(addonRows.map((r) => [r.id, addonView(r)])),
  };
}

function withOwner<V extends { entity_type: string; entity_id: string; plan?: PlanView; addon?: AddonView }>(
  view: V,
  owners: { plans: Map<string, PlanView>; addons: Map<string, AddonView> },
): V {
  const plan = view.entity_type === 'PLAN' ? owners.plans.get(view.entity_id) : undefined;
  const addon = view.entity_type === 'ADDON' ? owners.addons.get(view.entity_id) : undefined;
  return { ...view, ...(plan ? { plan } : {}), ...(addon ? { addon } : {}) };
}

/**
 * Prices in creation order, each CUSTOM price with its `pricing_unit`; with their meters on request, and with their
 * owning plan or addon unless they are nested in that owner's own response.
 */
export async function loadPriceViews(
  executor: Executor,
  scope: Scope,
  rows: Array<repo.Row<'prices'>>,
  withMeters: boolean,
  withOwners = false,
): Promise<PriceView[]> {
  const unitIds = [
    ...new Set(rows.flatMap((r) => (r.price_unit_type === 'CUSTOM' && r.price_unit_id ? [r.price_unit_id] : []))),
  ];
  const [meterRows, unitRows, owners] = await Promise.all([
    withMeters
      ? repo.findRowsByIds(
          executor,
          'meters',
          scope,
          rows.flatMap((r) => (r.meter_id ? [r.meter_id] : [])),
        )
      : Promise.resolve([]),
    unitIds.length > 0 ? repo.findRowsByIds(executor, 'price_units', scope, unitIds) : Promise.resolve([]),
    withOwners ? loadOwners(executor, scope, rows) : Promise.resolve(undefined),
  ]);
  const meters = new Map(meterRows.map((m) => [m.id, meterView(m)]));
  const units = new Map(unitRows.map((u) => [u.id, priceUnitView(u)]));
  return rows.map((r) => {
    const view = priceView(r, r.meter_id ? meters.get(r.meter_id) : undefined);
    const unit = r.price_unit_id ? units.get(r.price_unit_id) : undefined;
    if (unit) view.pricing_unit = unit;
    return owners ? withOwner(view, owners) : view;
  });
}

/**
 * Entitlements, with their features (and the features' meters) on request, and with their owning plan or addon
 * (without its children) unless they are nested in that owner's own response.
 */
export async function loadEntitlementViews(
  executor: Executor,
  scope: Scope,
  rows: Array<repo.Row<'entitlements'>>,
  withFeatures: boolean,
  withOwners = false,
): Promise<EntitlementView[]> {
  const [features, owners] = await Promise.all([
    withFeatures ? loadFeatures(executor, scope, rows) : Promise.resolve(new Map<string, FeatureView>()),
    withOwners ? loadOwners(executor, scope, rows) : Promise.resolve(undefined),
  ]);
  return rows.map((r) => {
    const view = entitlementView(r, features.get(r.feature_id));
    return owners ? withOwner(view, owners) : view;
  });
}

async function loadFeatures(
  executor: Executor,
  scope: Scope,
  rows: Array<repo.Row<'entitlements'>>,
): Promise<Map<string, FeatureView>> {
  const featureRows = await repo.findRowsByIds(
    executor,
    'features',
    scope,
    rows.map((r) => r.feature_id),
  );
  const meterRows = await repo.findRowsByIds(
    executor,
    'meters',
    scope,
    featureRows.flatMap((f) => (f.meter_id ? [f.meter_id] : [])),
  );
  const meters = new Map(meterRows.map((m) => [m.id, meterView(m)]));
  return new Map(featureRows.map((f) => [f.id, featureView(f, f.meter_id ? meters.get(f.meter_id) : undefined)]));
}

export interface ChildExpansion {
  prices?: boolean;
  priceMeters?: boolean;
  entitlements?: boolean;
  entitlementFeatures?: boolean;
  creditGrants?: boolean;
}

/** The children of plans or addons (prices, entitlements, credit grants), grouped by their entity id. */
export async function loadChildren(
  executor: Executor,
  scope: Scope,
  entityType: 'PLAN' | 'ADDON',
  entityIds: string[],
  expand: ChildExpansion,
) {
  const prices = new Map<string, PriceView[]>();
  const entitlements = new Map<string, EntitlementView[]>();
  const creditGrants = new Map<string, CreditGrantView[]>();
  const push = <V>(map: Map<string, V[]>, key: string, value: V) => map.set(key, [...(map.get(key) ?? []), value]);
  // the three reads are independent: on PostgreSQL outside a transaction they run on separate connections
  await Promise.all([
    (async () => {
      if (!expand.prices) return;
      const rows = await repo.findRowsByColumn(executor, 'prices', scope, 'entity_id', entityIds, [
        repo.equals('entity_type', entityType),
      ]);
      const views = await loadPriceViews(executor, scope, rows, expand.priceMeters ?? false);
      views.forEach((v) => push(prices, v.entity_id, v));
    })(),
    (async () => {
      if (!expand.entitlements) return;
      const rows = await repo.findRowsByColumn(executor, 'entitlements', scope, 'entity_id', entityIds, [
        repo.equals('entity_type', entityType),
      ]);
      const views = await loadEntitlementViews(executor, scope, rows, expand.entitlementFeatures ?? false);
      views.forEach((v) => push(entitlements, v.entity_id, v));
    })(),
    (async () => {
      if (!expand.creditGrants) return;
      const column = entityType === 'PLAN' ? 'plan_id' : 'addon_id';
      const rows = await repo.findRowsByColumn(executor, 'credit_grants', scope, column, entityIds, [
        repo.equals('scope', entityType),
      ]);
      rows.forEach((r) =>
        push(creditGrants, (entityType === 'PLAN' ? r.plan_id : r.addon_id) ?? '', creditGrantView(r)),
      );
    })(),
  ]);
  return {
    attach<V extends PlanView | AddonView>(view: V): V {
      return {
        ...view,
        ...(expand.prices ? { prices: prices.get(view.id) ?? [] } : {}),
        ...(expand.entitlements ? { entitlements: entitlements.get(view.id) ?? [] } : {}),
        ...(expand.creditGrants ? { credit_grants: creditGrants.get(view.id) ?? [] } : {}),
      };
    },
  };
}
