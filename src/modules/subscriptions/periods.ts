/**
 * Billing period arithmetic (pure, UTC). Periods are always computed from the subscription's anchor, never by
 * stepping from the previous end, so month-end clamping does not drift: an anchor on Jan 31 gives Feb 28 (29), then
 * Mar 31, Apr 30, …
 */
export const SUBSCRIPTION_BILLING_PERIODS = [
  'DAILY',
  'WEEKLY',
  'MONTHLY',
  'QUARTERLY',
  'HALF_YEARLY',
  'ANNUAL',
] as const;
export type SubscriptionBillingPeriod = (typeof SUBSCRIPTION_BILLING_PERIODS)[number];
export const BILLING_CYCLES = ['anniversary', 'calendar'] as const;
export type BillingCycle = (typeof BILLING_CYCLES)[number];

const DAY_MS = 86_400_000;
const MONTHS: Partial<Record<SubscriptionBillingPeriod, number>> = {
  MONTHLY: 1,
  QUARTERLY: 3,
  HALF_YEARLY: 6,
  ANNUAL: 12,
};
const DAYS: Partial<Record<SubscriptionBillingPeriod, number>> = { DAILY: 1, WEEKLY: 7 };

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** `anchor` plus `units` billing periods; months keep the anchor's day, clamped to the month's last day. */
export function addPeriods(anchor: Date, period: SubscriptionBillingPeriod, units: number): Date {
  const months = MONTHS[period];
  if (months === undefined) return new Date(anchor.getTime() + units * (DAYS[period] ?? 1) * DAY_MS);
  const total = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + units * months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonth(year, month));
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      anchor.getUTCHours(),
      anchor.getUTCMinutes(),
      anchor.getUTCSeconds(),
      anchor.getUTCMilliseconds(),
    ),
  );
}

/** Start of the calendar period containing `at`: the day, the ISO week (Monday), month, quarter, half-year, year. */
export function calendarStart(at: Date, period: SubscriptionBillingPeriod): Date {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  switch (period) {
    case 'DAILY':
      return new Date(Date.UTC(y, m, at.getUTCDate()));
    case 'WEEKLY': {
      const sinceMonday = (at.getUTCDay() + 6) % 7;
      return new Date(Date.UTC(y, m, at.getUTCDate() - sinceMonday));
    }
    case 'MONTHLY':
      return new Date(Date.UTC(y, m, 1));
    case 'QUARTERLY':
      return new Date(Date.UTC(y, m - (m % 3), 1));
    case 'HALF_YEARLY':
      return new Date(Date.UTC(y, m - (m % 6), 1));
    case 'ANNUAL':
      return new Date(Date.UTC(y, 0, 1));
  }
}

/** Whole billing units (not periods of `count`) from `anchor` to `at`, for an `at` produced by addPeriods. */
function unitsBetween(anchor: Date, at: Date, period: SubscriptionBillingPeriod): number {
  const months = MONTHS[period];
  if (months === undefined) return Math.round((at.getTime() - anchor.getTime()) / ((DAYS[period] ?? 1) * DAY_MS));
  const diff = (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  return Math.round(diff / months);
}

export interface FirstPeriod {
  billingAnchor: Date;
  periodStart: Date;
  periodEnd: Date;
}

/**
 * The first period of a subscription starting at `start`.
 * - anniversary: anchored on the start; ends `count` periods later.
 * - calendar: anchored on the calendar boundary at or before the start; a start off a boundary gives a partial first
 *   period ending at the next boundary, later periods are `count` units long; a start on a boundary is a full period.
 */
export function firstPeriod(
  start: Date,
  period: SubscriptionBillingPeriod,
  count: number,
  cycle: BillingCycle,
): FirstPeriod {
  if (cycle === 'anniversary') {
    return { billingAnchor: start, periodStart: start, periodEnd: addPeriods(start, period, count) };
  }
  const boundary = calendarStart(start, period);
  const onBoundary = boundary.getTime() === start.getTime();
  return {
    billingAnchor: boundary,
    periodStart: start,
    periodEnd: addPeriods(boundary, period, onBoundary ? count : 1),
  };
}

/** The period following the one ending at `periodEnd`: [periodEnd, anchor + (units so far + count)). */
export function nextPeriod(
  anchor: Date,
  periodEnd: Date,
  period: SubscriptionBillingPeriod,
  count: number,
): { periodStart: Date; periodEnd: Date } {
  const units = unitsBetween(anchor, periodEnd, period);
  return { periodStart: periodEnd, periodEnd: addPeriods(anchor, period, units + count) };
}

/**
 * The period of `count` units anchored on `anchor` that contains `at`: [anchor + k·count, anchor + (k+1)·count).
 * Before the anchor, the first period. Used for usage-reset windows (a DAILY reset on a monthly subscription resets
 * every day at the anchor's time of day).
 */
export function periodContaining(
  anchor: Date,
  period: SubscriptionBillingPeriod,
  count: number,
  at: Date,
): { periodStart: Date; periodEnd: Date } {
  if (at.getTime() < anchor.getTime()) return { periodStart: anchor, periodEnd: addPeriods(anchor, period, count) };
  const months = MONTHS[period];
  const estimate =
    months === undefined
      ? Math.floor((at.getTime() - anchor.getTime()) / ((DAYS[period] ?? 1) * DAY_MS * count))
      : Math.floor(
          ((at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth())) /
            (months * count),
        );
  let k = Math.max(0, estimate);
  // Month clamping can put the estimate one period off either way.
  while (k > 0 && addPeriods(anchor, period, k * count).getTime() > at.getTime()) k--;
  while (addPeriods(anchor, period, (k + 1) * count).getTime() <= at.getTime()) k++;
  return { periodStart: addPeriods(anchor, period, k * count), periodEnd: addPeriods(anchor, period, (k + 1) * count) };
}
