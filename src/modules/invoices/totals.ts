import { Dec, type Money, roundToCurrency } from '../../platform/money.ts';

/**
 * The invoice arithmetic, pure: every total of an invoice follows from its lines and what was paid, so the draft
 * writer, the preview, finalization (credit adjustment) and payments all compute them here and nowhere else.
 */
export interface LineAmounts {
  amount: Money;
  prepaid_credits_applied: Money;
  line_item_discount: Money;
  invoice_level_discount: Money;
}

export interface InvoiceTotals {
  subtotal: Money;
  total_discount: Money;
  total_prepaid_credits_applied: Money;
  total_tax: Money;
  total: Money;
  amount_due: Money;
  amount_paid: Money;
  amount_remaining: Money;
  overpaid_amount: Money;
}

const ZERO = new Dec(0);
const max0 = (value: Money) => (value.isNegative() ? ZERO : value);

/**
 * subtotal = Σ amount; total = max(0, subtotal − discounts − prepaid credits) (no taxes in Tally yet);
 * amount_due = total; amount_remaining = max(0, due − paid); overpaid = max(0, paid − due).
 */
export function invoiceTotals(lines: LineAmounts[], amountPaid: Money = ZERO): InvoiceTotals {
  let subtotal: Money = ZERO;
  let discount: Money = ZERO;
  let prepaid: Money = ZERO;
  for (const line of lines) {
    subtotal = subtotal.plus(line.amount);
    discount = discount.plus(line.line_item_discount).plus(line.invoice_level_discount);
    prepaid = prepaid.plus(line.prepaid_credits_applied);
  }
  const total = max0(subtotal.minus(discount).minus(prepaid));
  return {
    subtotal,
    total_discount: discount,
    total_prepaid_credits_applied: prepaid,
    total_tax: ZERO,
    total,
    amount_due: total,
    amount_paid: amountPaid,
    amount_remaining: max0(total.minus(amountPaid)),
    overpaid_amount: max0(amountPaid.minus(total)),
  };
}

/** A line amount as the invoice stores it: rounded half-up to the currency's precision. */
export function lineAmount(amount: Money, currency: string): Money {
  return roundToCurrency(amount, currency);
}

export interface AdjustableLine {
  /** Position of the line on the invoice. */
  index: number;
  /** What the line still owes: amount − discounts − prepaid credits already applied. */
  open: Money;
}

/**
 * Credit adjustment for one wallet (§2.14): walks the usage lines in order and applies the wallet's balance (in the
 * invoice currency) to each, rounded **down** to the currency precision, until the balance runs out. Returns the
 * amount applied per line index (only non-zero entries) and the sum.
 */
export function planCreditAdjustment(
  lines: AdjustableLine[],
  walletBalance: Money,
  currency: string,
): { applied: Map<number, Money>; total: Money } {
  const applied = new Map<number, Money>();
  let left = walletBalance;
  let total: Money = ZERO;
  for (const line of lines) {
    if (left.lte(0)) break;
    if (line.open.lte(0)) continue;
    const take = roundToCurrency(Dec.min(line.open, left), currency, Dec.ROUND_DOWN);
    if (take.lte(0)) continue;
    applied.set(line.index, take);
    left = left.minus(take);
    total = total.plus(take);
  }
  return { applied, total };
}

/**
 * The payment status an invoice's amounts imply: nothing owed and something due → SUCCEEDED; paid beyond the due
 * amount → OVERPAID; otherwise the given status stays (PENDING, FAILED, …).
 */
export function paymentStatusFor(totals: InvoiceTotals, current: string): string {
  if (totals.overpaid_amount.gt(0)) return 'OVERPAID';
  if (totals.amount_remaining.isZero()) return 'SUCCEEDED';
  return current === 'SUCCEEDED' || current === 'OVERPAID' ? 'PENDING' : current;
}
