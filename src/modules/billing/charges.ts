import type { Executor } from '../../platform/db/database.ts';
import { notFound } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { Dec, dec, type Money } from '../../platform/money.ts';
import { meterView, type MeterView } from '../catalog/meters.service.ts';
import { chargeFor, chargeForBuckets, type PricingSpec } from '../catalog/pricing.ts';
import type { EventsService, MeterUsage, MeterUsageRequest } from '../events/events.service.ts';
import type { WindowSize } from '../events/events.schemas.ts';
import { aggregateEntitlements } from '../subscriptions/entitlements.ts';
import { nextPeriod, type SubscriptionBillingPeriod } from '../subscriptions/periods.ts';
import * as repo from './billing.repo.ts';
import type { BillingReason, InvoiceDraft, InvoiceDraftLine } from './draft.ts';

/**
 * Charge computation (reference behaviour §6.2, §5.2, §5.4): what a subscription owes for a period, as an invoice
 * draft. Reads everything through the executor it is given, so the billing job can compute inside the transaction
 * that writes the invoice and advances the period.
 */

export interface ChargeOptions {
  period_start: Date;
  period_end: Date;
  /**
   * SUBSCRIPTION_CREATE: the ADVANCE fixed items of [period_start, period_end).
   * SUBSCRIPTION_CYCLE (and others): the ARREAR items of the ended period (all usage, arrear fixed) plus the ADVANCE
   * fixed items of the next period, unless the subscription ends at period_end.
   */
  reason: BillingReason;
  /** Usage lines only, no fixed lines (the real-time balance and the usage endpoint). */
  usageOnly?: boolean | undefined;
}

export type ChargeDeps = { events: Pick<EventsService, 'meterUsageManyIn'> };

/** The pricing engine's view of a price row (amounts and tiers are stored in the currency already). */
export function pricingSpecOf(price: repo.PriceRow): PricingSpec {
  return {
    billing_model: price.billing_model as PricingSpec['billing_model'],
    amount: price.amount,
    tier_mode: (price.tier_mode ?? undefined) as PricingSpec['tier_mode'],
    tiers: price.tiers ?? null,
    transform_quantity: price.transform_quantity
      ? {
          divide_by: price.transform_quantity.divide_by,
          round: price.transform_quantity.round === 'down' ? 'down' : 'up',
        }
      : null,
    currency: price.currency,
  };
}

const BUCKETABLE = new Set(['MAX', 'SUM']);
const RESET_WINDOWS: Partial<Record<string, WindowSize>> = { DAILY: 'DAY', WEEKLY: 'WEEK' };

interface Allowance {
  /** null: unlimited (the usage is free) */
  usage_limit: number | null;
  usage_reset_period: string | undefined;
}

/** Enabled metered entitlements of the subscription, by the meter of their feature (§5.4 aggregation). */
async function allowancesByMeter(executor: Executor, scope: Scope, subscription: repo.SubscriptionRow, at: Date) {
  // Plan names only label the sources, which allowances do not use: an empty map saves their read.
  const features = await aggregateEntitlements(executor, scope, [subscription], { at, planNames: new Map() });
  const byMeter = new Map<string, Allowance>();
  for (const entry of features) {
    if (entry.feature.type !== 'metered' || !entry.entitlement.is_enabled || !entry.feature.meter_id) continue;
    byMeter.set(entry.feature.meter_id, {
      usage_limit: entry.entitlement.usage_limit ?? null,
      usage_reset_period: entry.entitlement.usage_reset_period,
    });
  }
  return byMeter;
}

/** Whether [from, to) lies entirely inside one paused span. */
function pausedThrough(spans: ReadonlyArray<readonly [number, number]>, from: Date, to: Date): boolean {
  return spans.some(([s, e]) => s <= from.getTime() && e >= to.getTime());
}

function lineActiveIn(item: repo.LineItemRow, start: Date, end: Date): boolean {
  return item.start_date.getTime() < end.getTime() && (!item.end_date || item.end_date.getTime() > start.getTime());
}

type LineCharge = { quantity: Money; adjusted: Money | null; amount: Money };

/**
 * Charge of one usage line over [start, end): metered quantity, entitlement allowance, pricing engine. Planned in
 * two steps so that every line of a subscription is metered by one statement: `requests` are the usage reads the
 * line needs, `charge` prices their answers (in the same order).
 */
function planUsageLine(
  context: {
    subscription: repo.SubscriptionRow;
    externalCustomerId: string;
    price: repo.PriceRow;
    meter: MeterView;
    allowance: Allowance | undefined;
  },
  start: Date,
  end: Date,
): { requests: MeterUsageRequest[]; charge: (usage: MeterUsage[]) => LineCharge } {
  const { meter, price, allowance, externalCustomerId } = context;
  const spec = pricingSpecOf(price);
  const filters = price.filter_values ?? undefined;
  const usageOf = (from: Date, to: Date, windowSize?: WindowSize): MeterUsageRequest => ({
    meter,
    externalCustomerId,
    start: from,
    end: to,
    filters,
    windowSize,
  });
  const bucket = meter.aggregation.bucket_size;
  if (bucket && BUCKETABLE.has(meter.aggregation.type)) {
    // Bucketed meters are priced per bucket (the reference refuses entitlements on them).
    return {
      requests: [usageOf(start, end, bucket)],
      charge: ([usage]) => {
        const quantities = usage!.windows.map((w) => dec(w.value));
        return { quantity: dec(usage!.value), adjusted: null, amount: chargeForBuckets(spec, quantities) };
      },
    };
  }
  if (!allowance) {
    return {
      requests: [usageOf(start, end)],
      charge: ([usage]) => {
        const quantity = dec(usage!.value);
        return { quantity, adjusted: null, amount: chargeFor(spec, quantity) };
      },
    };
  }
  if (allowance.usage_limit === null) {
    // An unlimited entitlement makes the usage free.
    return {
      requests: [usageOf(start, end)],
      charge: ([usage]) => ({ quantity: dec(0), adjusted: dec(usage!.value), amount: dec(0) }),
    };
  }
  const limit = dec(allowance.usage_limit);
  const priced = (used: Money, billable: Money): LineCharge => ({
    quantity: billable,
    adjusted: used.sub(billable),
    amount: chargeFor(spec, billable),
  });
  const window = RESET_WINDOWS[allowance.usage_reset_period ?? ''];
  if (window) {
    // The allowance resets every day (week): Σ max(0, window usage − limit).
    return {
      requests: [usageOf(start, end, window)],
      charge: ([usage]) => {
        let billable = dec(0);
        for (const w of usage!.windows) billable = billable.add(Dec.max(dec(0), dec(w.value).sub(limit)));
        return priced(dec(usage!.value), billable);
      },
    };
  }
  if (allowance.usage_reset_period === 'NEVER') {
    // A lifetime allowance: what this period adds above the limit, counting usage since the subscription started.
    const over = (value: string) => Dec.max(dec(0), dec(value).sub(limit));
    return {
      requests: [usageOf(context.subscription.start_date, start), usageOf(context.subscription.start_date, end)],
      charge: ([before, through]) =>
        priced(dec(through!.value).sub(before!.value), over(through!.value).sub(over(before!.value))),
    };
  }
  return {
    requests: [usageOf(start, end)],
    charge: ([usage]) => {
      const used = dec(usage!.value);
      return priced(used, Dec.max(dec(0), used.sub(limit)));
    },
  };
}

export async function computeSubscriptionCharges(
  deps: ChargeDeps,
  executor: Executor,
  scope: Scope,
  subscriptionOrId: string | repo.SubscriptionRow,
  options: ChargeOptions,
): Promise<InvoiceDraft> {
  const subscription =
    typeof subscriptionOrId === 'string'
      ? await repo.findSubscription(executor, scope, subscriptionOrId)
      : subscriptionOrId;
  if (!subscription) throw notFound('subscription', { id: subscriptionOrId });
  const { period_start: start, period_end: end } = options;
  const creating = options.reason === 'SUBSCRIPTION_CREATE';
  const endsNow = subscription.end_date !== null && subscription.end_date.getTime() <= end.getTime();
  const next =
    creating || endsNow || options.usageOnly
      ? null
      : nextPeriod(
          subscription.billing_anchor,
          end,
          subscription.billing_period as SubscriptionBillingPeriod,
          subscription.billing_period_count,
        );

  // Line items with their meters, the customer's external id, whether entitlements exist and the pauses: one
  // statement.
  const charged = await repo.listChargeItems(executor, scope, subscription, {
    pausesBefore: creating || options.usageOnly ? undefined : (next?.periodEnd ?? end),
  });
  const items = charged.items;
  // A period spent entirely in a pause is not charged its fixed fees (the ended period's ARREAR ones, the next
  // period's ADVANCE ones); an ended period spent paused bills only the usage actually recorded in it.
  const endedPaused = pausedThrough(charged.pausedSpans, start, end);
  const nextPaused = next !== null && pausedThrough(charged.pausedSpans, next.periodStart, next.periodEnd);
  const prices = new Map(
    (
      await repo.findPrices(
        executor,
        scope,
        items.map((i) => i.price_id),
      )
    ).map((p) => [p.id, p]),
  );
  const usageItems = creating ? [] : items.filter((i) => i.price_type === 'USAGE' && lineActiveIn(i, start, end));
  const meters = new Map<string, MeterView>();
  for (const item of usageItems) {
    const row = item.meter_id ? charged.meters.get(item.meter_id) : undefined;
    if (row && !meters.has(row.id)) meters.set(row.id, meterView(row));
  }
  const allowances =
    usageItems.length && charged.hasEntitlements
      ? await allowancesByMeter(executor, scope, subscription, start)
      : new Map<string, Allowance>();
  const externalCustomerId = charged.externalCustomerId ?? '';

  const lineBase = (item: repo.LineItemRow, price: repo.PriceRow) => ({
    entity_type: item.entity_type,
    entity_id: item.entity_id,
    subscription_line_item_id: item.id,
    price_id: price.id,
    price_type: price.type as 'FIXED' | 'USAGE',
    plan_display_name: item.plan_display_name,
    meter_id: item.meter_id,
    meter_display_name: item.meter_id ? item.meter_display_name : null,
    display_name: item.display_name,
    metadata: {},
  });

  const lines: InvoiceDraftLine[] = [];
  // Usage lines of the period, in line-item order; every line's usage is read by one statement.
  const planned = usageItems.flatMap((item) => {
    const price = prices.get(item.price_id);
    const meter = item.meter_id ? meters.get(item.meter_id) : undefined;
    if (!price || !meter) return [];
    // Only the usage of the item's life inside the period: an item ended mid-period (a plan change) and the
    // one that replaced it each bill their own part, not both the whole period.
    const from = item.start_date.getTime() > start.getTime() ? item.start_date : start;
    const to = item.end_date && item.end_date.getTime() < end.getTime() ? item.end_date : end;
    const plan = planUsageLine(
      { subscription, externalCustomerId, price, meter, allowance: allowances.get(meter.id) },
      from,
      to,
    );
    return [{ item, price, from, to, plan }];
  });
  const usage = await deps.events.meterUsageManyIn(
    executor,
    scope,
    planned.flatMap((p) => p.plan.requests),
  );
  let offset = 0;
  const usageLines = planned.map(({ item, price, from, to, plan }): InvoiceDraftLine => {
    const charge = plan.charge(usage.slice(offset, (offset += plan.requests.length)));
    return {
      ...lineBase(item, price),
      quantity: charge.quantity,
      adjusted_entitlement_quantity: charge.adjusted,
      amount: charge.amount,
      period_start: from,
      period_end: to,
    };
  });
  if (!options.usageOnly) {
    const fixed = (cadence: 'ARREAR' | 'ADVANCE', from: Date, to: Date) => {
      for (const item of items) {
        if (item.price_type !== 'FIXED' || item.invoice_cadence !== cadence || !lineActiveIn(item, from, to)) continue;
        const price = prices.get(item.price_id);
        if (!price) continue;
        const quantity = dec(item.quantity);
        lines.push({
          ...lineBase(item, price),
          quantity,
          adjusted_entitlement_quantity: null,
          amount: chargeFor(pricingSpecOf(price), quantity),
          period_start: from,
          period_end: to,
        });
      }
    };
    if (creating) fixed('ADVANCE', start, end);
    else if (!endedPaused) fixed('ARREAR', start, end);
    for (const line of usageLines) if (!(endedPaused && line.amount.isZero())) lines.push(line);
    if (next && !nextPaused) fixed('ADVANCE', next.periodStart, next.periodEnd);
  } else {
    lines.push(...usageLines);
  }

  return {
    customer_id: subscription.customer_id,
    subscription_id: subscription.id,
    invoice_type: 'SUBSCRIPTION',
    billing_reason: options.reason,
    currency: subscription.currency,
    period_start: start,
    period_end: end,
    billing_period: subscription.billing_period,
    idempotency_key: creating
      ? `${subscription.id}:create:${start.toISOString()}`
      : `${subscription.id}:${start.toISOString()}`,
    lines,
    metadata: {},
  };
}

/** Σ of the draft's line amounts (already rounded per line). */
export function draftTotal(draft: InvoiceDraft): Money {
  return draft.lines.reduce((sum, line) => sum.add(line.amount), dec(0));
}
