import { dec, type Money, roundToCurrency } from '../../platform/money.ts';

const DAY_MS = 86_400_000;

/** One fixed charge of a period: what the whole period costs (already priced, in the currency). */
export interface ProratableCharge {
  line_item_id: string | null;
  price_id: string;
  display_name: string;
  /** The charge for the whole period. */
  amount: Money;
}

export interface ProrationLine extends ProratableCharge {
  /** Credit lines are negative, charge lines positive; rounded to the currency. */
  prorated_amount: Money;
  kind: 'credit' | 'charge';
}

export interface ProrationResult {
  total_days: number;
  days_used: number;
  days_remaining: number;
  credit_amount: Money;
  charge_amount: Money;
  /** charge − credit */
  net_amount: Money;
  lines: ProrationLine[];
}

/**
 * Day-based proration of a change at `at` inside `[periodStart, periodEnd)` (reference §6.1, `day_based`): days are
 * whole UTC days; the day of the change counts as remaining (so a change on the first day credits the whole old
 * charge). Each old charge is credited `amount × remaining / total`, each new charge billed the same share; every
 * line is rounded (half up) to the currency's precision and the totals are sums of the rounded lines.
 */
export function prorate(input: {
  periodStart: Date;
  periodEnd: Date;
  at: Date;
  currency: string;
  credits: ProratableCharge[];
  charges: ProratableCharge[];
}): ProrationResult {
  const { periodStart, periodEnd, at, currency } = input;
  if (periodEnd.getTime() <= periodStart.getTime()) throw new RangeError('the period must not be empty');
  if (at.getTime() < periodStart.getTime() || at.getTime() > periodEnd.getTime()) {
    throw new RangeError('the change must fall inside the period');
  }
  const totalDays = Math.max(1, Math.round((periodEnd.getTime() - periodStart.getTime()) / DAY_MS));
  const daysUsed = Math.min(totalDays, Math.floor((at.getTime() - periodStart.getTime()) / DAY_MS));
  const daysRemaining = totalDays - daysUsed;
  const share = (amount: Money) => roundToCurrency(amount.mul(daysRemaining).div(totalDays), currency);
  const lines: ProrationLine[] = [
    ...input.credits.map((c) => ({ ...c, kind: 'credit' as const, prorated_amount: share(c.amount).neg() })),
    ...input.charges.map((c) => ({ ...c, kind: 'charge' as const, prorated_amount: share(c.amount) })),
  ];
  const sum = (kind: 'credit' | 'charge') =>
    lines.filter((l) => l.kind === kind).reduce((total, l) => total.add(l.prorated_amount.abs()), dec(0));
  const credit = sum('credit');
  const charge = sum('charge');
  return {
    total_days: totalDays,
    days_used: daysUsed,
    days_remaining: daysRemaining,
    credit_amount: credit,
    charge_amount: charge,
    net_amount: charge.sub(credit),
    lines,
  };
}
