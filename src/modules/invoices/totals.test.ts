import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Dec, dec } from '../../platform/money.ts';
import { invoiceTotals, lineAmount, paymentStatusFor, planCreditAdjustment } from './totals.ts';

const line = (amount: string, prepaid = '0', discount = '0') => ({
  amount: dec(amount),
  prepaid_credits_applied: dec(prepaid),
  line_item_discount: dec(discount),
  invoice_level_discount: dec(0),
});

describe('invoiceTotals', () => {
  it('sums lines, subtracts discounts and prepaid credits, and splits paid into remaining and overpaid', () => {
    const totals = invoiceTotals([line('10.01', '4'), line('0.33'), line('5', '0', '1')], dec('3'));
    assert.equal(totals.subtotal.toFixed(), '15.34');
    assert.equal(totals.total_discount.toFixed(), '1');
    assert.equal(totals.total_prepaid_credits_applied.toFixed(), '4');
    assert.equal(totals.total.toFixed(), '10.34');
    assert.equal(totals.amount_due.toFixed(), '10.34');
    assert.equal(totals.amount_remaining.toFixed(), '7.34');
    assert.equal(totals.overpaid_amount.toFixed(), '0');
    const over = invoiceTotals([line('2')], dec('2.5'));
    assert.equal(over.amount_remaining.toFixed(), '0');
    assert.equal(over.overpaid_amount.toFixed(), '0.5');
  });

  it('keeps remaining = max(due − paid, 0) and overpaid = max(paid − due, 0) for any amounts', () => {
    const cents = fc.integer({ min: 0, max: 10_000_000 }).map((n) => new Dec(n).dividedBy(100));
    fc.assert(
      fc.property(fc.array(cents, { maxLength: 20 }), cents, (amounts, paid) => {
        const totals = invoiceTotals(
          amounts.map((a) => line(a.toFixed())),
          paid,
        );
        const expectedSubtotal = amounts.reduce((s, a) => s.plus(a), new Dec(0));
        assert.ok(totals.subtotal.eq(expectedSubtotal));
        assert.ok(totals.amount_remaining.eq(Dec.max(0, totals.amount_due.minus(paid))));
        assert.ok(totals.overpaid_amount.eq(Dec.max(0, paid.minus(totals.amount_due))));
        assert.ok(totals.amount_paid.plus(totals.amount_remaining).minus(totals.overpaid_amount).eq(totals.amount_due));
      }),
    );
  });

  it('rounds line amounts half-up to the currency precision', () => {
    assert.equal(lineAmount(dec('10.005'), 'usd').toFixed(), '10.01');
    assert.equal(lineAmount(dec('10.004'), 'usd').toFixed(), '10');
    assert.equal(lineAmount(dec('100.5'), 'JPY').toFixed(), '101');
    assert.equal(lineAmount(dec('1.0005'), 'kwd').toFixed(), '1.001');
  });
});

describe('planCreditAdjustment', () => {
  it('fills lines in order, rounding each application down to the currency precision', () => {
    const plan = planCreditAdjustment(
      [
        { index: 0, open: dec('4.26') },
        { index: 1, open: dec('0') },
        { index: 2, open: dec('7') },
      ],
      dec('10.009'),
      'usd',
    );
    assert.deepEqual(
      [...plan.applied].map(([i, a]) => [i, a.toFixed()]),
      [
        [0, '4.26'],
        [2, '5.74'],
      ],
    );
    assert.equal(plan.total.toFixed(), '10');
  });

  it('never applies more than the balance nor more than a line owes', () => {
    const cents = fc.integer({ min: 0, max: 1_000_000 }).map((n) => new Dec(n).dividedBy(1000));
    fc.assert(
      fc.property(fc.array(cents, { maxLength: 10 }), cents, (opens, balance) => {
        const lines = opens.map((open, index) => ({ index, open }));
        const plan = planCreditAdjustment(lines, balance, 'usd');
        assert.ok(plan.total.lte(balance));
        let sum = new Dec(0);
        for (const [index, amount] of plan.applied) {
          assert.ok(amount.gt(0) && amount.lte(opens[index] as InstanceType<typeof Dec>));
          assert.equal(amount.decimalPlaces() <= 2, true);
          sum = sum.plus(amount);
        }
        assert.ok(sum.eq(plan.total));
      }),
    );
  });
});

describe('paymentStatusFor', () => {
  it('derives SUCCEEDED, OVERPAID, or keeps an unpaid status', () => {
    assert.equal(paymentStatusFor(invoiceTotals([line('5')], dec('5')), 'PENDING'), 'SUCCEEDED');
    assert.equal(paymentStatusFor(invoiceTotals([line('5')], dec('6')), 'PENDING'), 'OVERPAID');
    assert.equal(paymentStatusFor(invoiceTotals([line('5')], dec('1')), 'FAILED'), 'FAILED');
    assert.equal(paymentStatusFor(invoiceTotals([line('5')], dec('1')), 'SUCCEEDED'), 'PENDING');
  });
});
