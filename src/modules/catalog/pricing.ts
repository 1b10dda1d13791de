import { dec, Dec, type Money, roundToCurrency } from '../../platform/money.ts';

/**
 * The pricing engine: what a quantity costs under a price. Pure (no I/O), exact (decimal.js, never a JS number),
 * and rounded to the currency's precision once, at the very end, so per-tier or per-bucket partial sums never
 * accumulate rounding error.
 */

export type BillingModel = 'FLAT_FEE' | 'PACKAGE' | 'TIERED';
export type TierMode = 'VOLUME' | 'SLAB';

export interface PricingTier {
  /** Inclusive upper bound of the tier (units); null = unbounded (only the last tier). */
  up_to: number | null;
  unit_amount: string;
  flat_amount?: string | null | undefined;
}

export interface TransformQuantity {
  divide_by: number;
  round?: 'up' | 'down' | undefined;
}

export interface PricingSpec {
  billing_model: BillingModel;
  /** per unit (FLAT_FEE) or per package (PACKAGE), in the pricing unit */
  amount?: string | undefined;
  tier_mode?: TierMode | undefined;
  tiers?: PricingTier[] | null | undefined;
  transform_quantity?: TransformQuantity | null | undefined;
  /** ISO currency the charge is rounded to */
  currency: string;
  /**
   * For custom price units: one pricing unit = conversion_rate of the currency. Amounts and tiers above are then in
   * the pricing unit and the cost is converted before rounding. Absent for fiat prices.
   */
  conversion_rate?: string | undefined;
}

const ZERO = dec(0);

/** Tiers ordered by up_to with the unbounded tier last (the order the reference evaluates them in). */
function orderedTiers(tiers: PricingTier[]): PricingTier[] {
  return [...tiers].sort((a, b) => {
    if (a.up_to === null) return b.up_to === null ? 0 : 1;
    if (b.up_to === null) return -1;
    return a.up_to - b.up_to;
  });
}

function flatOf(tier: PricingTier): Money {
  return tier.flat_amount === undefined || tier.flat_amount === null || tier.flat_amount === ''
    ? ZERO
    : dec(tier.flat_amount);
}

/** Volume: the whole quantity is priced by the first tier whose up_to is ≥ quantity (inclusive). */
function volumeCost(tiers: PricingTier[], quantity: Money): Money {
  const ordered = orderedTiers(tiers);
  const tier = ordered.find((t) => t.up_to === null || quantity.lte(t.up_to)) ?? ordered[ordered.length - 1];
  if (!tier) return ZERO;
  return dec(tier.unit_amount).mul(quantity).add(flatOf(tier));
}

/**
 * Slab (graduated): each tier prices the units that fall inside it; a tier's flat amount is charged once as soon as
 * any unit falls inside it. Units above the last bounded tier are priced by the last tier (as volume does), so a
 * price without an unbounded tier never gives units away for free.
 */
function slabCost(tiers: PricingTier[], quantity: Money): Money {
  const ordered = orderedTiers(tiers);
  let cost = ZERO;
  let remaining = quantity;
  let previousBound = ZERO;
  for (let index = 0; index < ordered.length && remaining.gt(0); index++) {
    const tier = ordered[index]!;
    const isLast = index === ordered.length - 1;
    let inTier = remaining;
    if (tier.up_to !== null && !isLast) {
      const capacity = dec(tier.up_to).sub(previousBound);
      if (inTier.gt(capacity)) inTier = capacity;
      previousBound = dec(tier.up_to);
    }
    if (inTier.lte(0)) continue;
    cost = cost.add(dec(tier.unit_amount).mul(inTier)).add(flatOf(tier));
    remaining = remaining.sub(inTier);
  }
  return cost;
}

/** Number of packages billed for a quantity: quantity / divide_by, rounded up unless round is 'down'. */
export function packagesFor(quantity: Money, transform: TransformQuantity): Money {
  if (transform.divide_by <= 0) return ZERO;
  const packages = quantity.div(transform.divide_by);
  return transform.round === 'down'
    ? packages.toDecimalPlaces(0, Dec.ROUND_FLOOR)
    : packages.toDecimalPlaces(0, Dec.ROUND_CEIL);
}

/**
 * The cost of `quantity` in the pricing unit, unrounded. Zero or negative quantity costs nothing (the reference
 * clamps usage at 0). Throws on a spec the validators should have refused (so a bad row fails loudly).
 */
export function costInPricingUnit(spec: PricingSpec, quantity: Money): Money {
  if (quantity.lte(0)) return ZERO;
  switch (spec.billing_model) {
    case 'FLAT_FEE':
      return dec(spec.amount ?? '0').mul(quantity);
    case 'PACKAGE': {
      if (!spec.transform_quantity) throw new Error('PACKAGE price without transform_quantity');
      return dec(spec.amount ?? '0').mul(packagesFor(quantity, spec.transform_quantity));
    }
    case 'TIERED': {
      const tiers = spec.tiers ?? [];
      if (tiers.length === 0) throw new Error('TIERED price without tiers');
      return spec.tier_mode === 'SLAB' ? slabCost(tiers, quantity) : volumeCost(tiers, quantity);
    }
  }
}

function toCurrency(spec: PricingSpec, cost: Money): Money {
  return spec.conversion_rate === undefined ? cost : cost.mul(spec.conversion_rate);
}

/** The charge for a quantity, in the currency, rounded (half up) to the currency's precision. */
export function chargeFor(spec: PricingSpec, quantity: Money | string): Money {
  const q = typeof quantity === 'string' ? dec(quantity) : quantity;
  return roundToCurrency(toCurrency(spec, costInPricingUnit(spec, q)), spec.currency);
}

/**
 * The charge for usage measured in buckets (bucketed MAX/SUM meters): each bucket is priced on its own, as the
 * reference applies tiers per bucket, and the sum is rounded once.
 */
export function chargeForBuckets(spec: PricingSpec, bucketQuantities: Array<Money | string>): Money {
  let total = ZERO;
  for (const quantity of bucketQuantities) {
    total = total.add(costInPricingUnit(spec, typeof quantity === 'string' ? dec(quantity) : quantity));
  }
  return roundToCurrency(toCurrency(spec, total), spec.currency);
}

/** A custom-unit amount expressed in the currency (unrounded): amount × conversion_rate. */
export function convertFromPricingUnit(amount: Money | string, conversionRate: Money | string): Money {
  return dec(amount).mul(conversionRate);
}
