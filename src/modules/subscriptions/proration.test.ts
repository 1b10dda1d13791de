import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dec, toWire } from '../../platform/money.ts';
import { prorate } from './proration.ts';

const d = (s: string) => new Date(s);
const charge = (id: string, amount: string) => ({
  line_item_id: `li_${id}`,
  price_id: `price_${id}`,
  display_name: id,
  amount: dec(amount),
});
/** March 2026: 31 days. */
const march = { periodStart: d('2026-03-01T00:00:00Z'), periodEnd: d('2026-04-01T00:00:00Z'), currency: 'usd' };

describe('prorate (day-based)', () => {
  it('credits the unused days of the old charge and charges the remaining days of the new one', () => {
    const result = prorate({
      ...march,
      at: d('2026-03-11T09:30:00Z'), // 10 whole days used, the day of the change counts as remaining
      credits: [charge('old', '31')],
      charges: [charge('new', '93')],
    });
    assert.equal(result.total_days, 31);
    assert.equal(result.days_used, 10);
    assert.equal(result.days_remaining, 21);
    assert.equal(toWire(result.credit_amount), '21'); // 31 × 21/31
    assert.equal(toWire(result.charge_amount), '63'); // 93 × 21/31
    assert.equal(toWire(result.net_amount), '42');
    assert.deepEqual(
      result.lines.map((l) => [l.kind, l.price_id, toWire(l.prorated_amount)]),
      [
        ['credit', 'price_old', '-21'],
        ['charge', 'price_new', '63'],
      ],
    );
  });

  it('rounds each line half up to the currency and sums the rounded lines', () => {
    const result = prorate({
      ...march,
      at: d('2026-03-02T00:00:00Z'), // 30 of 31 days remain
      credits: [charge('a', '10'), charge('b', '10')], // 9.677… → 9.68 each
      charges: [charge('c', '0.05')], // 0.0483… → 0.05
    });
    assert.deepEqual(
      result.lines.map((l) => toWire(l.prorated_amount)),
      ['-9.68', '-9.68', '0.05'],
    );
    assert.equal(toWire(result.credit_amount), '19.36');
    assert.equal(toWire(result.net_amount), '-19.31');
    // zero-decimal currencies round to whole units
    const jpy = prorate({
      ...march,
      currency: 'jpy',
      at: d('2026-03-02T00:00:00Z'),
      credits: [charge('y', '1000')],
      charges: [],
    });
    assert.equal(toWire(jpy.credit_amount), '968');
  });

  it('credits everything on the first day and nothing at the period end; downgrades net negative', () => {
    const first = prorate({
      ...march,
      at: march.periodStart,
      credits: [charge('old', '90')],
      charges: [charge('new', '30')],
    });
    assert.equal(first.days_used, 0);
    assert.equal(toWire(first.credit_amount), '90');
    assert.equal(toWire(first.charge_amount), '30');
    assert.equal(toWire(first.net_amount), '-60');
    const end = prorate({
      ...march,
      at: march.periodEnd,
      credits: [charge('old', '90')],
      charges: [charge('new', '30')],
    });
    assert.equal(end.days_remaining, 0);
    assert.equal(toWire(end.net_amount), '0');
  });

  it('handles February and empty inputs, and refuses a change outside the period', () => {
    const feb = prorate({
      periodStart: d('2026-02-01T00:00:00Z'),
      periodEnd: d('2026-03-01T00:00:00Z'),
      at: d('2026-02-15T00:00:00Z'),
      currency: 'usd',
      credits: [charge('old', '28')],
      charges: [],
    });
    assert.equal(feb.total_days, 28);
    assert.equal(toWire(feb.credit_amount), '14');
    assert.equal(feb.lines.length, 1);
    const none = prorate({ ...march, at: d('2026-03-05T00:00:00Z'), credits: [], charges: [] });
    assert.equal(toWire(none.net_amount), '0');
    assert.throws(() => prorate({ ...march, at: d('2026-02-28T00:00:00Z'), credits: [], charges: [] }), RangeError);
    assert.throws(() => prorate({ ...march, at: d('2026-04-02T00:00:00Z'), credits: [], charges: [] }), RangeError);
    assert.throws(
      () => prorate({ ...march, periodEnd: march.periodStart, at: march.periodStart, credits: [], charges: [] }),
      RangeError,
    );
  });
});
