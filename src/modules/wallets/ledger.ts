/**
 * Pure ledger rules of wallets: drain order, what a credit lot holds, the balance formula, alert states.
 * No I/O here; the service reads rows, asks these functions what to write, and writes it. The same invariants are
 * CHECK constraints in migrations/0006-wallets.
 */
import { Dec, type Money, toStorageScale } from '../../platform/money.ts';

export interface Lot {
  id: string;
  priority: number | null;
  expiry_date: Date | null;
  credit_amount: Money;
  credits_available: Money;
}

/**
 * The reference's drain order: priority ascending (no priority last), then expiry ascending (no expiry last),
 * then the larger lot first. The reference stops there; the id (a ULID, so creation order) breaks the remaining
 * ties so the same ledger always drains the same way.
 */
export function compareLots(a: Lot, b: Lot): number {
  if (a.priority !== b.priority) {
    if (a.priority === null) return 1;
    if (b.priority === null) return -1;
    return a.priority - b.priority;
  }
  const ae = a.expiry_date?.getTime() ?? null;
  const be = b.expiry_date?.getTime() ?? null;
  if (ae !== be) {
    if (ae === null) return 1;
    if (be === null) return -1;
    return ae - be;
  }
  const bySize = b.credit_amount.comparedTo(a.credit_amount);
  if (bySize !== 0) return bySize;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A lot is eligible for a debit at `at` when it has credits left and has not expired (expiry is inclusive). */
export function isLotEligible(lot: Lot, at: Date): boolean {
  return lot.credits_available.gt(0) && (lot.expiry_date === null || lot.expiry_date.getTime() >= at.getTime());
}

export interface DrainStep {
  id: string;
  take: Money;
  /** credits_available of the lot after this debit. */
  remaining: Money;
}

export interface DrainPlan {
  steps: DrainStep[];
  /** Credits the lots could not cover (zero unless the caller allows an overdraw). */
  shortfall: Money;
}

/**
 * Which lots a debit of `credits` draws from. `lots` must already be in drain order (compareLots); the plan takes
 * from each in turn until the debit is covered. A shortfall is returned, not thrown: the caller decides whether an
 * overdraw is allowed (MANUAL_BALANCE_DEBIT) or is an error.
 */
export function planDrain(lots: readonly Lot[], credits: Money): DrainPlan {
  if (credits.lte(0)) throw new Error('planDrain: credits must be positive');
  let left = credits;
  const steps: DrainStep[] = [];
  for (const lot of lots) {
    if (left.isZero()) break;
    if (lot.credits_available.lte(0)) continue;
    const take = Dec.min(lot.credits_available, left);
    steps.push({ id: lot.id, take, remaining: lot.credits_available.minus(take) });
    left = left.minus(take);
  }
  return { steps, shortfall: left };
}

/**
 * What a new credit lot can be drawn for: the whole credit, except that a credit arriving while the balance is
 * negative first repays the debt and only the rest becomes drawable.
 */
export function creditsAvailableForCredit(balanceBefore: Money, creditAmount: Money): Money {
  if (balanceBefore.gte(0)) return creditAmount;
  return Dec.max(0, balanceBefore.plus(creditAmount));
}

/** balance = credit_balance × conversion_rate, at the storage scale (numeric(20,9)). */
export function balanceOf(creditBalance: Money, conversionRate: Money): Money {
  return toStorageScale(creditBalance.times(conversionRate));
}

/** Money → credits (division), at the storage scale. */
export function creditsForAmount(amount: Money, rate: Money): Money {
  return toStorageScale(amount.dividedBy(rate));
}

/** Credits → money (multiplication), at the storage scale. */
export function amountForCredits(credits: Money, rate: Money): Money {
  return toStorageScale(credits.times(rate));
}

// ---------------------------------------------------------------------------------------------------------------
// Alerts

export type AlertState = 'ok' | 'info' | 'warning' | 'in_alarm';
export type AlertCondition = 'above' | 'below';
export interface AlertThreshold {
  threshold: string;
  condition: AlertCondition;
}
export interface AlertSettings {
  critical?: AlertThreshold | undefined;
  warning?: AlertThreshold | undefined;
  info?: AlertThreshold | undefined;
  alert_enabled?: boolean | undefined;
}

/** The reference's tenant default (`wallet_balance_alert_config`): critical below 0, disabled. */
export const DEFAULT_ALERT_SETTINGS: AlertSettings = {
  critical: { threshold: '0', condition: 'below' },
  alert_enabled: false,
};

export function hasThreshold(settings: AlertSettings | null | undefined): settings is AlertSettings {
  return Boolean(settings && (settings.critical || settings.warning || settings.info));
}

/** Validation rules of the reference; returns the problem, or null. */
export function alertSettingsProblem(settings: AlertSettings): string | null {
  const { critical, warning, info } = settings;
  if (settings.alert_enabled && !critical && !warning && !info) {
    return 'alert_settings: alert_enabled needs at least one threshold';
  }
  for (const [name, t] of [
    ['critical', critical],
    ['warning', warning],
    ['info', info],
  ] as const) {
    if (!t) continue;
    if (t.condition !== 'above' && t.condition !== 'below') {
      return `alert_settings.${name}.condition must be 'above' or 'below'`;
    }
  }
  const value = (t: AlertThreshold) => new Dec(t.threshold);
  if (warning) {
    if (!critical) return 'alert_settings: warning needs a critical threshold';
    if (warning.condition !== critical.condition) return 'alert_settings: warning and critical need the same condition';
    const ordered =
      critical.condition === 'below' ? value(warning).gte(value(critical)) : value(warning).lte(value(critical));
    if (!ordered) {
      return critical.condition === 'below'
        ? 'alert_settings: warning threshold must be at or above critical for below'
        : 'alert_settings: warning threshold must be at or below critical for above';
    }
  }
  if (info && (warning || critical)) {
    const next = (warning ?? critical) as AlertThreshold;
    if (info.condition !== next.condition) return 'alert_settings: info needs the same condition as the others';
    const ordered = next.condition === 'below' ? value(info).gte(value(next)) : value(info).lte(value(next));
    if (!ordered) return 'alert_settings: info threshold must lie beyond warning/critical';
  }
  return null;
}

/** State of a value under the settings: in_alarm, warning, info or ok (thresholds inclusive, as the reference). */
export function alertStateOf(value: Money, settings: AlertSettings): AlertState {
  const condition = (settings.critical ?? settings.warning ?? settings.info)?.condition;
  if (!condition) return 'ok';
  const hit = (t: AlertThreshold | undefined) =>
    t !== undefined && (condition === 'below' ? value.lte(new Dec(t.threshold)) : value.gte(new Dec(t.threshold)));
  if (hit(settings.critical)) return 'in_alarm';
  if (hit(settings.warning)) return 'warning';
  if (hit(settings.info)) return 'info';
  return 'ok';
}
