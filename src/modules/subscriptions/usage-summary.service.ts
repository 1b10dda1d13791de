import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db/database.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { dec, Dec, toWire } from '../../platform/money.ts';
import type { FeatureView } from '../catalog/features.service.ts';
import type { EventsService } from '../events/events.service.ts';
import { aggregateEntitlements, type EntitlementSourceView } from './entitlements.ts';
import {
  nextPeriod,
  periodContaining,
  SUBSCRIPTION_BILLING_PERIODS,
  type SubscriptionBillingPeriod,
} from './periods.ts';
import * as repo from './subscriptions.repo.ts';

/**
 * The customer usage summary (GET /v1/customers/usage): per feature the customer's live subscriptions grant, the
 * aggregated entitlement (reference §5.4) beside the customer's usage of the feature's meter in the current usage
 * period, and whether the limit is exceeded.
 *
 * Usage period of a metered feature: its aggregated `usage_reset_period`, anchored on the billing anchor of the
 * oldest subscription granting it. A reset period equal to that subscription's billing period (or none) is the
 * subscription's current billing period; another period (e.g. DAILY on a monthly plan) is the anchored window of
 * that length holding now, starting no earlier than the subscription; NEVER is everything since the subscription
 * started, up to now (no next reset).
 */

export interface UsageSummaryInput {
  customer_id?: string | undefined;
  customer_lookup_key?: string | undefined;
  feature_ids?: string[] | undefined;
  feature_lookup_keys?: string[] | undefined;
  subscription_ids?: string[] | undefined;
}

export interface FeatureUsageSummaryView {
  feature: FeatureView;
  is_enabled: boolean;
  is_soft_limit: boolean;
  is_unlimited: boolean;
  total_limit?: number;
  current_usage: string;
  usage_percent: string;
  /** Tally extension: the usage is above a (finite) limit */
  is_limit_exceeded: boolean;
  usage_reset_period?: string;
  next_usage_reset_at?: string;
  usage_period_start?: string;
  usage_period_end?: string;
  sources: EntitlementSourceView[];
}

export interface CustomerUsageSummaryView {
  customer_id: string;
  features: FeatureUsageSummaryView[];
  period?: { start_time: string; end_time: string; period: string };
  pagination: { total: number; limit: number; offset: number };
}

const MAX_PERIOD_STEPS = 100_000;

/** The billing period of a subscription holding `at`, stepped from the stored current period (exact, from the anchor). */
export function billingPeriodAt(subscription: repo.SubscriptionRow, at: Date): { start: Date; end: Date } {
  const period = subscription.billing_period as SubscriptionBillingPeriod;
  let start = subscription.current_period_start;
  let end = subscription.current_period_end;
  for (let i = 0; i < MAX_PERIOD_STEPS && at.getTime() >= end.getTime(); i++) {
    const next = nextPeriod(subscription.billing_anchor, end, period, subscription.billing_period_count);
    start = next.periodStart;
    end = next.periodEnd;
  }
  return { start, end };
}

/** The usage window of a reset period on a subscription at `at`; `end` is exclusive, null for NEVER (up to now). */
function usageWindow(
  subscription: repo.SubscriptionRow,
  resetPeriod: string | undefined,
  at: Date,
): { start: Date; end: Date | null } {
  if (resetPeriod === 'NEVER') return { start: subscription.start_date, end: null };
  if (
    !resetPeriod ||
    resetPeriod === subscription.billing_period ||
    !(SUBSCRIPTION_BILLING_PERIODS as readonly string[]).includes(resetPeriod)
  ) {
    return billingPeriodAt(subscription, at);
  }
  const window = periodContaining(subscription.billing_anchor, resetPeriod as SubscriptionBillingPeriod, 1, at);
  const start =
    window.periodStart.getTime() < subscription.start_date.getTime() ? subscription.start_date : window.periodStart;
  return { start, end: window.periodEnd };
}

const splitIds = (values: string[] | undefined) => (values?.length ? new Set(values) : undefined);

export function createUsageSummaryService(deps: {
  db: Db;
  clock: Clock;
  events: Pick<EventsService, 'meterUsageTotals'>;
}) {
  const { db, clock, events } = deps;
  return {
    /** 400 without customer_id or customer_lookup_key (the external id); 404 for an unknown customer. */
    async getCustomerUsageSummary(scope: Scope, input: UsageSummaryInput): Promise<CustomerUsageSummaryView> {
      if (!input.customer_id && !input.customer_lookup_key) {
        throw validation('customer_id or customer_lookup_key is required');
      }
      const ref = input.customer_id ? { id: input.customer_id } : { externalId: input.customer_lookup_key };
      const customer = await repo.findCustomerWithSubscriptions(db, scope, ref, ['active', 'trialing']);
      if (!customer) {
        throw notFound('customer', ref.id ? { id: ref.id } : { customer_lookup_key: ref.externalId });
      }
      const now = clock.now();
      const onlySubscriptions = splitIds(input.subscription_ids);
      const rows = customer.subscriptions.filter((s) => !onlySubscriptions || onlySubscriptions.has(s.id));
      const wantedKeys = splitIds(input.feature_lookup_keys);
      const aggregated = (
        await aggregateEntitlements(db, scope, rows, {
          at: now,
          featureIds: input.feature_ids,
          planNames: customer.planNames,
        })
      ).filter((f) => !wantedKeys || wantedKeys.has(f.feature.lookup_key));
      const subscriptionsById = new Map(rows.map((r) => [r.id, r]));
      const order = new Map(rows.map((r, index) => [r.id, index]));

      // One usage window per metered feature, then every usage in one statement.
      const windows = aggregated.map(({ feature, entitlement, sources }) => {
        if (feature.type !== 'metered' || !feature.meter) return undefined;
        const oldest = sources
          .map((s) => s.subscription_id)
          .sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0))[0]!;
        return {
          meter: feature.meter,
          ...usageWindow(subscriptionsById.get(oldest)!, entitlement.usage_reset_period, now),
        };
      });
      const measured = windows.flatMap((w) => (w ? [w] : []));
      const totals = await events.meterUsageTotals(
        scope,
        customer.externalId,
        measured.map((w) => ({ meter: w.meter, start: w.start, end: w.end ?? new Date(now.getTime() + 1) })),
      );
      const usageOf = new Map(measured.map((w, index) => [w, totals[index]!]));

      const features = aggregated.map((entry, index): FeatureUsageSummaryView => {
        const { feature, entitlement, sources } = entry;
        const base = {
          feature,
          is_enabled: entitlement.is_enabled,
          is_soft_limit: entitlement.is_soft_limit,
          sources,
        };
        const window = windows[index];
        if (!window) {
          // Boolean, static and config features: nothing is measured.
          return { ...base, is_unlimited: false, current_usage: '0', usage_percent: '0', is_limit_exceeded: false };
        }
        const usage = dec(usageOf.get(window)!);
        const limit = entitlement.usage_limit ?? null;
        const percent =
          limit === null
            ? dec(0)
            : limit === 0
              ? dec(usage.gt(0) ? 100 : 0)
              : usage.mul(100).div(limit).toDecimalPlaces(2, Dec.ROUND_HALF_UP);
        return {
          ...base,
          is_unlimited: limit === null,
          ...(limit !== null ? { total_limit: limit } : {}),
          current_usage: toWire(usage),
          usage_percent: toWire(percent),
          is_limit_exceeded: limit !== null && usage.gt(limit),
          ...(entitlement.usage_reset_period ? { usage_reset_period: entitlement.usage_reset_period } : {}),
          ...(window.end ? { next_usage_reset_at: window.end.toISOString() } : {}),
          usage_period_start: window.start.toISOString(),
          usage_period_end: (window.end ?? now).toISOString(),
        };
      });
      const first = rows[0];
      const period = first ? billingPeriodAt(first, now) : undefined;
      return {
        customer_id: customer.id,
        features,
        ...(first && period
          ? {
              period: {
                start_time: period.start.toISOString(),
                end_time: period.end.toISOString(),
                period: first.billing_period.toLowerCase(),
              },
            }
          : {}),
        pagination: { total: features.length, limit: features.length, offset: 0 },
      };
    },
  };
}

export type UsageSummaryService = ReturnType<typeof createUsageSummaryService>;
