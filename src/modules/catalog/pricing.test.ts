import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Dec, dec, toWire } from '../../platform/money.ts';
import {
  chargeFor,
  chargeForBuckets,
  costInPricingUnit,
  packagesFor,
  type PricingSpec,
  type PricingTier,
} from './pricing.ts';

const flat: PricingSpec = { billing_model: 'FLAT_FEE', amount: '0.015', currency: 'usd' };
const pkg = (round?: 'up' | 'down'): PricingSpec => ({
  billing_model: 'PACKAGE',
  amount: '5',
  transform_quantity: { divide_by: 100, ...(round ? { round } : {}) },
  currency: 'usd',
});
const tiers = [
  { up_to: 10, unit_amount: '1', flat_amount: '5' },
  { up_to: 20, unit_amount: '0.5', flat_amount: '2' },
  { up_to: null, unit_amount: '0.1' },
];
const volume: PricingSpec = { billing_model: 'TIERED', tier_mode: 'VOLUME', tiers, currency: 'usd' };
const slab: PricingSpec = { billing_model: 'TIERED', tier_mode: 'SLAB', tiers, currency: 'usd' };

const cases: Array<[string, PricingSpec, string, string]> = [
  ['flat fee: zero quantity', flat, '0', '0'],
  ['flat fee: negative quantity costs nothing', flat, '-5', '0'],
  ['flat fee: one unit rounds half up to cents', flat, '1', '0.02'],
  ['flat fee: fractional quantity', flat, '2.5', '0.04'],
  ['flat fee: rounding only at the end (1000 × 0.015)', flat, '1000', '15'],
  ['flat fee: huge quantity stays exact', flat, '123456789012345678', '1851851835185185.17'],
  ['package: rounds up by default (1 unit = 1 package)', pkg(), '1', '5'],
  ['package: exact multiple', pkg(), '200', '10'],
  ['package: one over a multiple rounds up', pkg(), '201', '15'],
  ['package: round down floors', pkg('down'), '299', '10'],
  ['package: round down below one package is free', pkg('down'), '99', '0'],
  ['package: fractional quantity rounds up', pkg(), '100.5', '10'],
  ['package: zero', pkg(), '0', '0'],
  ['volume: first tier edge is inclusive (10)', volume, '10', '15'],
  ['volume: just over the edge moves the whole quantity (10.5)', volume, '10.5', '7.25'],
  ['volume: second tier edge (20)', volume, '20', '12'],
  ['volume: 21 falls in the unbounded tier', volume, '21', '2.1'],
  ['volume: 1 unit', volume, '1', '6'],
  ['volume: zero quantity is free (no flat fee)', volume, '0', '0'],
  ['volume: huge', volume, '1000000000', '100000000'],
  ['slab: inside the first tier (flat charged once)', slab, '3', '8'],
  ['slab: first tier full (10)', slab, '10', '15'],
  ['slab: touching the second tier adds its flat (11)', slab, '11', '17.5'],
  ['slab: second tier full (20)', slab, '20', '22'],
  ['slab: into the unbounded tier (25)', slab, '25', '22.5'],
  ['slab: fractional (10.5)', slab, '10.5', '17.25'],
  ['slab: zero', slab, '0', '0'],
];

describe('pricing engine', () => {
  for (const [name, spec, quantity, expected] of cases) {
    it(name, () => {
      assert.equal(toWire(chargeFor(spec, quantity)), expected);
    });
  }

  it('rounds to the currency precision (jpy 0, kwd 3)', () => {
    assert.equal(toWire(chargeFor({ ...flat, currency: 'jpy' }, '100')), '2');
    assert.equal(toWire(chargeFor({ ...flat, currency: 'kwd' }, '3')), '0.045');
    assert.equal(toWire(chargeFor({ ...flat, currency: 'JPY' }, '30')), '0');
  });

  it('orders tiers by up_to with the unbounded tier last, whatever the input order', () => {
    const shuffled: PricingSpec = { ...slab, tiers: [tiers[2]!, tiers[0]!, tiers[1]!] };
    assert.equal(toWire(chargeFor(shuffled, '25')), '22.5');
  });

  it('prices units above the last bounded tier at that tier (slab and volume)', () => {
    const bounded = [
      { up_to: 10, unit_amount: '2' },
      { up_to: 20, unit_amount: '1' },
    ];
    assert.equal(toWire(chargeFor({ ...slab, tiers: bounded }, '25')), '35');
    assert.equal(toWire(chargeFor({ ...volume, tiers: bounded }, '25')), '25');
  });

  it('converts custom price units with the conversion rate before rounding', () => {
    // 3 units × 0.333 credits = 0.999 credits; 1 credit = 0.5 usd → 0.4995 → 0.50
    const custom: PricingSpec = { billing_model: 'FLAT_FEE', amount: '0.333', currency: 'usd', conversion_rate: '0.5' };
    assert.equal(toWire(costInPricingUnit(custom, dec(3))), '0.999');
    assert.equal(toWire(chargeFor(custom, '3')), '0.5');
    const tieredCustom: PricingSpec = { ...slab, conversion_rate: '2' };
    assert.equal(toWire(chargeFor(tieredCustom, '11')), '35');
  });

  it('prices buckets one by one and rounds the sum once', () => {
    // volume per bucket: 10 → 15, 15 → 9.5; the whole 25 at once would be 2.5
    assert.equal(toWire(chargeForBuckets(volume, ['10', '15'])), '24.5');
    // three buckets of 0.333 cents each: rounded once = 0.01, rounding each would give 0
    assert.equal(toWire(chargeForBuckets({ ...flat, amount: '0.01' }, ['0.333', '0.333', '0.333'])), '0.01');
  });

  it('counts packages, and none when divide_by is not positive', () => {
    assert.equal(packagesFor(dec(250), { divide_by: 100 }).toString(), '3');
    assert.equal(packagesFor(dec(250), { divide_by: 100, round: 'down' }).toString(), '2');
    assert.equal(packagesFor(dec(250), { divide_by: 0 }).toString(), '0');
  });

  it('refuses specs the validators must have refused', () => {
    assert.throws(() => chargeFor({ billing_model: 'PACKAGE', amount: '1', currency: 'usd' }, '1'));
    assert.throws(() => chargeFor({ billing_model: 'TIERED', tiers: [], currency: 'usd' }, '1'));
  });

  const tierArb = fc
    .uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 6 })
    .chain((bounds) =>
      fc.tuple(
        fc.constant(bounds),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 100_000 })), {
          minLength: bounds.length + 1,
          maxLength: bounds.length + 1,
        }),
        fc.boolean(),
      ),
    )
    .map(([bounds, amounts, unbounded]) => {
      const sorted = [...bounds].sort((a, b) => a - b);
      const list: PricingTier[] = sorted.map((upTo, i) => ({
        up_to: upTo,
        unit_amount: String(amounts[i]![0] / 1000),
        flat_amount: String(amounts[i]![1] / 100),
      }));
      if (unbounded) {
        const last = amounts[sorted.length]!;
        list.push({ up_to: null, unit_amount: String(last[0] / 1000), flat_amount: '0' });
      }
      return list;
    });
  const quantityArb = fc
    .tuple(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 999 }))
    .map(([whole, thousandths]) => dec(whole).add(dec(thousandths).div(1000)));

  it('property: SLAB totals never decrease as quantity grows', () => {
    fc.assert(
      fc.property(tierArb, quantityArb, quantityArb, (tierList, a, b) => {
        const spec: PricingSpec = { billing_model: 'TIERED', tier_mode: 'SLAB', tiers: tierList, currency: 'usd' };
        const [low, high] = a.lte(b) ? [a, b] : [b, a];
        return costInPricingUnit(spec, low).lte(costInPricingUnit(spec, high));
      }),
      { numRuns: 500 },
    );
  });

  it('property: SLAB with no flat amounts equals the sum of per-tier unit charges', () => {
    fc.assert(
      fc.property(tierArb, quantityArb, (tierList, quantity) => {
        const noFlat = tierList.map((t) => ({ ...t, flat_amount: '0' }));
        const spec: PricingSpec = { billing_model: 'TIERED', tier_mode: 'SLAB', tiers: noFlat, currency: 'usd' };
        let expected = dec(0);
        let lower = dec(0);
        noFlat.forEach((tier, i) => {
          const last = i === noFlat.length - 1;
          const upper = tier.up_to === null || last ? quantity : dec(Math.min(tier.up_to, Number.MAX_SAFE_INTEGER));
          const inTier = Dec.max(0, Dec.min(quantity, upper).sub(lower));
          expected = expected.add(inTier.mul(tier.unit_amount));
          if (!last && tier.up_to !== null) lower = dec(tier.up_to);
        });
        return costInPricingUnit(spec, quantity).eq(expected);
      }),
      { numRuns: 300 },
    );
  });
});
