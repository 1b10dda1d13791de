import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db/database.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { dec, type Money, toWire } from '../../platform/money.ts';
import type { FeaturesService, FeatureView } from '../catalog/features.service.ts';
import { meterUsageSpec, type MeterView } from '../catalog/meters.service.ts';
import type { PriceView } from '../catalog/catalog.views.ts';
import type { PricesService } from '../catalog/prices.service.ts';
import { chargeFor, type PricingSpec } from '../catalog/pricing.ts';
import type { CustomersService } from '../customers/customers.service.ts';
import type { LineItemView, SubscriptionsService } from '../subscriptions/subscriptions.service.ts';
import * as repo from './events.repo.ts';
import type { AggregationType, WindowSize } from './events.schemas.ts';

/**
 * Usage analytics (POST /v1/events/analytics): per metered feature (and per group-by value), a customer's usage over
 * a time range with window points, priced with the line item of the customer's live subscriptions that charges the
 * feature's meter. Usage is aggregated exactly in SQL (see events.repo.ts); costs come from the catalog's pricing
 * engine; every decimal is a string on the wire.
 */

export interface AnalyticsInput {
  external_customer_id?: string | undefined;
  feature_ids?: string[] | undefined;
  sources?: string[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  window_size?: WindowSize | undefined;
  group_by?: string[] | undefined;
  property_filters?: Record<string, string[]> | undefined;
  expand?: string[] | undefined;
  breakdown_bucket?: boolean | undefined;
  include_children?: boolean | undefined;
}

export interface AnalyticPoint {
  timestamp: string;
  usage: string;
  cost: string;
  subtotal: string;
  discount: string;
  event_count: number;
}

export interface AnalyticItem {
  feature_id: string;
  name: string;
  event_name: string;
  meter_id: string;
  aggregation_type: AggregationType;
  unit: string;
  unit_plural: string;
  reporting_unit?: Record<string, unknown>;
  source?: string;
  sources?: string[];
  properties?: Record<string, string>;
  total_usage: string;
  total_usage_display: string;
  event_count: number;
  window_size?: WindowSize;
  points: AnalyticPoint[];
  currency: string;
  price_id?: string;
  subscription_id?: string;
  sub_line_item_id?: string;
  add_on_id?: string;
  plan_id?: string;
  subtotal: string;
  total_discount: string;
  total_cost: string;
  feature?: FeatureView;
  meter?: MeterView;
  price?: PriceView;
  subscription_line_item?: LineItemView;
}

export interface AnalyticsView {
  currency: string;
  items: AnalyticItem[];
  subtotal: string;
  total_discount: string;
  total_cost: string;
  custom_analytics: never[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
const EXPANDABLE = ['feature', 'meter', 'price', 'subscription_line_item'];
/** Reference expand values Tally does not fill yet (add_on_id and plan_id are returned; read them by id). */
const UNSUPPORTED_EXPAND = ['plan', 'addon'];
const SEPARATOR = '\u001f';

type Dimension = { kind: 'source' } | { kind: 'property'; name: string };

function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`);
  return new Date(ms);
}

function dimensionsOf(groupBy: string[]): Dimension[] {
  const dimensions: Dimension[] = [];
  for (const name of groupBy) {
    if (name === 'feature_id') continue; // items are always per feature
    if (name === 'source') dimensions.push({ kind: 'source' });
    else if (name.startsWith('properties.') && name.length > 'properties.'.length) {
      dimensions.push({ kind: 'property', name: name.slice('properties.'.length) });
    } else {
      throw validation(`group_by accepts "source", "feature_id" or "properties.<name>", got '${name}'`);
    }
  }
  return dimensions;
}

/** The meter's filters narrowed by the request's property filters (a key in both keeps the values in both). */
function narrowFilters(meterFilters: Record<string, string[]> | undefined, extra: Record<string, string[]> = {}) {
  const filters: Record<string, string[]> = { ...(meterFilters ?? {}) };
  for (const [key, values] of Object.entries(extra)) {
    filters[key] = filters[key] ? filters[key].filter((v) => values.includes(v)) : values;
  }
  return filters;
}

export function createAnalyticsService(deps: {
  db: Db;
  clock: Clock;
  customers: Pick<CustomersService, 'getCustomerByExternalId'>;
  features: Pick<FeaturesService, 'searchFeatures'>;
  prices: Pick<PricesService, 'pricingSpecsByIds' | 'getPrice'>;
  subscriptions: Pick<SubscriptionsService, 'liveUsageLineItems'>;
}) {
  const { db, clock, customers, features, prices, subscriptions } = deps;

  function checkInput(input: AnalyticsInput) {
    if (!input.external_customer_id) throw validation('external_customer_id is required');
    if (input.breakdown_bucket) {
      throw validation('breakdown_bucket is not supported: Tally has no commitment time buckets');
    }
    if (input.include_children) {
      throw validation('include_children is not supported: Tally has no customer hierarchy');
    }
    const expand = new Set<string>();
    for (const value of input.expand ?? []) {
      if (UNSUPPORTED_EXPAND.includes(value)) throw validation(`expand '${value}' is not supported yet`);
      if (!EXPANDABLE.includes(value)) {
        throw validation(`expand accepts ${[...EXPANDABLE, ...UNSUPPORTED_EXPAND].join(', ')}, got '${value}'`);
      }
      expand.add(value);
    }
    const end = parseTime(input.end_time, 'end_time') ?? clock.now();
    const start = parseTime(input.start_time, 'start_time') ?? new Date(end.getTime() - 7 * DAY_MS);
    if (end.getTime() < start.getTime()) throw validation('end_time must not be before start_time');
    return { start, end, expand, dimensions: dimensionsOf(input.group_by ?? []) };
  }

  /** The live metered features asked for (all of the environment's by default), with their meters. */
  async function meteredFeatures(scope: Scope, featureIds: string[] | undefined) {
    const wanted = featureIds?.length ? [...new Set(featureIds)] : undefined;
    const found = await features.searchFeatures(scope, {
      ...(wanted ? { feature_ids: wanted } : {}),
      expand: 'meters',
      limit: 1000,
      order: 'asc',
    });
    if (wanted) {
      const ids = new Set(found.items.map((f) => f.id));
      const missing = wanted.find((id) => !ids.has(id));
      if (missing) throw notFound('feature', { id: missing });
      const unmetered = found.items.find((f) => f.type !== 'metered');
      if (unmetered) throw validation(`feature ${unmetered.id} is not metered`, { feature_id: unmetered.id });
    }
    return found.items.filter((f): f is FeatureView & { meter: MeterView } => f.type === 'metered' && !!f.meter);
  }

  return {
    async getUsageAnalytics(scope: Scope, input: AnalyticsInput): Promise<AnalyticsView> {
      const { start, end, expand, dimensions } = checkInput(input);
      const customer = await customers.getCustomerByExternalId(scope, input.external_customer_id!);
      const [featureList, lineItems] = await Promise.all([
        meteredFeatures(scope, input.feature_ids),
        subscriptions.liveUsageLineItems(scope, customer.id, clock.now()),
      ]);
      // The first live line item charging a meter prices it (oldest subscription first).
      const lineItemByMeter = new Map<string, (typeof lineItems)[number]>();
      for (const item of lineItems) if (!lineItemByMeter.has(item.meter_id!)) lineItemByMeter.set(item.meter_id!, item);
      const priceIds = [...new Set([...lineItemByMeter.values()].map((i) => i.price_id))];
      const [specs, priceViews] = await Promise.all([
        prices.pricingSpecsByIds(db, scope, priceIds),
        expand.has('price') ? Promise.all(priceIds.map((id) => prices.getPrice(scope, id).catch(() => undefined))) : [],
      ]);
      const priceViewById = new Map(priceViews.flatMap((p) => (p ? [[p.id, p] as const] : [])));

      const perFeature = await Promise.all(
        featureList.map(async (feature) => {
          const spec = meterUsageSpec(feature.meter);
          const query: repo.AggregateQuery = {
            eventName: spec.event_name,
            aggregation: spec.aggregation_type,
            propertyName: spec.property_name ?? '',
            externalCustomerId: customer.external_id,
            start,
            end,
            bucketSize: spec.bucket_size,
            timezone: 'UTC',
            filters: narrowFilters(spec.filters, input.property_filters),
            multiplier: spec.multiplier,
            groupBy: (spec.group_by ?? []).map((g) => ({
              kind: 'property' as const,
              name: g.slice('properties.'.length),
            })),
            sources: input.sources?.length ? input.sources : undefined,
            split: dimensions,
          };
          const splitBySource = dimensions.some((d) => d.kind === 'source');
          const [totals, windows, sources] = await Promise.all([
            repo.aggregateEvents(db, scope, query),
            input.window_size ? repo.aggregateEvents(db, scope, { ...query, windowSize: input.window_size }) : [],
            splitBySource ? [] : repo.distinctSources(db, scope, query),
          ]);
          return { feature, totals, windows, sources };
        }),
      );

      const items: AnalyticItem[] = [];
      for (const { feature, totals, windows, sources } of perFeature) {
        const lineItem = lineItemByMeter.get(feature.meter.id);
        const spec: PricingSpec | undefined = lineItem ? specs.get(lineItem.price_id) : undefined;
        const cost = (usage: Money) => (spec ? chargeFor(spec, usage) : dec(0));
        const currency = spec ? spec.currency : '';
        for (const total of totals) {
          const events = Number(total.events);
          if (events === 0) continue;
          const usage = dec(total.value ?? '0');
          const values = dimensions.length ? total.split_key.split(SEPARATOR) : [];
          const properties: Record<string, string> = {};
          let source: string | undefined;
          dimensions.forEach((d, i) => {
            if (d.kind === 'source') source = values[i] ?? '';
            else properties[d.name] = values[i] ?? '';
          });
          const itemCost = cost(usage);
          const conversion = feature.reporting_unit?.conversion_rate;
          items.push({
            feature_id: feature.id,
            name: feature.name,
            event_name: feature.meter.event_name,
            meter_id: feature.meter.id,
            aggregation_type: feature.meter.aggregation.type as AggregationType,
            unit: feature.unit_singular,
            unit_plural: feature.unit_plural,
            ...(feature.reporting_unit ? { reporting_unit: feature.reporting_unit } : {}),
            ...(source !== undefined
              ? { source }
              : { sources: sources.filter((s) => s.split_key === total.split_key).map((s) => s.source) }),
            ...(Object.keys(properties).length ? { properties } : {}),
            total_usage: toWire(usage),
            total_usage_display:
              conversion !== undefined && conversion !== null ? toWire(usage.mul(String(conversion))) : '',
            event_count: events,
            ...(input.window_size ? { window_size: input.window_size } : {}),
            points: windows
              .filter((w) => w.split_key === total.split_key)
              .map((w) => {
                const pointCost = toWire(cost(dec(w.value ?? '0')));
                return {
                  timestamp: w.window_start!.toISOString(),
                  usage: toWire(dec(w.value ?? '0')),
                  cost: pointCost,
                  subtotal: pointCost,
                  discount: '0',
                  event_count: Number(w.events),
                };
              }),
            currency,
            ...(lineItem
              ? {
                  price_id: lineItem.price_id,
                  subscription_id: lineItem.subscription_id,
                  sub_line_item_id: lineItem.id,
                  plan_id: lineItem.plan_id,
                  ...(lineItem.entity_type.toLowerCase() === 'addon' ? { add_on_id: lineItem.entity_id } : {}),
                }
              : {}),
            subtotal: toWire(itemCost),
            total_discount: '0',
            total_cost: toWire(itemCost),
            ...(expand.has('feature') ? { feature } : {}),
            ...(expand.has('meter') ? { meter: feature.meter } : {}),
            ...(expand.has('price') && lineItem && priceViewById.has(lineItem.price_id)
              ? { price: priceViewById.get(lineItem.price_id) }
              : {}),
            ...(expand.has('subscription_line_item') && lineItem ? { subscription_line_item: lineItem } : {}),
          });
        }
      }
      items.sort(
        (a, b) =>
          a.name.localeCompare(b.name) ||
          a.feature_id.localeCompare(b.feature_id) ||
          (a.source ?? '').localeCompare(b.source ?? '') ||
          JSON.stringify(a.properties ?? {}).localeCompare(JSON.stringify(b.properties ?? {})),
      );
      // Totals are in one currency: the first priced item's (the oldest subscription's line items come first).
      const currency = items.find((i) => i.currency)?.currency ?? '';
      const total = items
        .filter((i) => i.currency === currency && currency !== '')
        .reduce((sum, i) => sum.add(i.total_cost), dec(0));
      return {
        currency,
        items,
        subtotal: toWire(total),
        total_discount: '0',
        total_cost: toWire(total),
        custom_analytics: [],
      };
    },
  };
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
