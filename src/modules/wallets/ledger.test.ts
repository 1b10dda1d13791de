import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dec } from '../../platform/money.ts';
import {
  alertSettingsProblem,
  alertStateOf,
  balanceOf,
  compareLots,
  creditsAvailableForCredit,
  isLotEligible,
  type Lot,
  planDrain,
} from './ledger.ts';

const lot = (id: string, priority: number | null, expiry: string | null, amount: string, available = amount): Lot => ({
  id,
  priority,
  expiry_date: expiry ? new Date(expiry) : null,
  credit_amount: dec(amount),
  credits_available: dec(available),
});

describe('drain order', () => {
  it('orders by priority (none last), then expiry (none last), then larger first, then id', () => {
    const lots = [
      lot('g', null, null, '5'),
      lot('f', null, '2026-02-01', '5'),
      lot('e', 1, null, '5'),
      lot('d', 1, '2026-03-01', '5'),
      lot('c', 1, '2026-02-01', '1'),
      lot('b', 1, '2026-02-01', '9'),
      lot('a2', 0, null, '5'),
      lot('a1', 0, null, '5'),
    ];
    assert.deepEqual(
      [...lots].sort(compareLots).map((l) => l.id),
      ['a1', 'a2', 'b', 'c', 'd', 'e', 'f', 'g'],
    );
  });

  it('plans a debit across lots and reports the shortfall instead of overdrawing', () => {
    const plan = planDrain([lot('a', 0, null, '3'), lot('b', 1, null, '4', '2')], dec('4'));
    assert.deepEqual(
      plan.steps.map((s) => [s.id, s.take.toFixed(), s.remaining.toFixed()]),
      [
        ['a', '3', '0'],
        ['b', '1', '1'],
      ],
    );
    assert.equal(plan.shortfall.toFixed(), '0');
    assert.equal(planDrain([lot('a', 0, null, '3')], dec('5')).shortfall.toFixed(), '2');
    assert.throws(() => planDrain([], dec('0')));
  });

  it('treats a lot as usable up to and including its expiry instant', () => {
    const l = lot('a', null, '2026-02-01T00:00:00Z', '1');
    assert.equal(isLotEligible(l, new Date('2026-02-01T00:00:00Z')), true);
    assert.equal(isLotEligible(l, new Date('2026-02-01T00:00:00.001Z')), false);
  });
});

describe('money rules', () => {
  it('lets a credit repay a negative balance before it becomes drawable', () => {
    assert.equal(creditsAvailableForCredit(dec('5'), dec('10')).toFixed(), '10');
    assert.equal(creditsAvailableForCredit(dec('-3'), dec('10')).toFixed(), '7');
    assert.equal(creditsAvailableForCredit(dec('-30'), dec('10')).toFixed(), '0');
  });

  it('prices the balance as credits × conversion_rate at 9 decimal places', () => {
    assert.equal(balanceOf(dec('3'), dec('0.33333')).toFixed(), '0.99999');
    assert.equal(balanceOf(dec('0.000000001'), dec('0.5')).toFixed(), '0.000000001');
  });
});

describe('alerts', () => {
  const below = {
    critical: { threshold: '0', condition: 'below' as const },
    warning: { threshold: '10', condition: 'below' as const },
    info: { threshold: '20', condition: 'below' as const },
  };
  it('maps a value to in_alarm, warning, info or ok with inclusive thresholds', () => {
    assert.equal(alertStateOf(dec('0'), below), 'in_alarm');
    assert.equal(alertStateOf(dec('10'), below), 'warning');
    assert.equal(alertStateOf(dec('15'), below), 'info');
    assert.equal(alertStateOf(dec('20.01'), below), 'ok');
    assert.equal(alertStateOf(dec('100'), { critical: { threshold: '100', condition: 'above' } }), 'in_alarm');
    assert.equal(alertStateOf(dec('1'), {}), 'ok');
  });

  it('validates threshold order and conditions', () => {
    assert.equal(alertSettingsProblem(below), null);
    assert.match(alertSettingsProblem({ warning: { threshold: '1', condition: 'below' } }) ?? '', /critical/);
    assert.match(
      alertSettingsProblem({
        critical: { threshold: '5', condition: 'below' },
        warning: { threshold: '1', condition: 'below' },
      }) ?? '',
      /at or above/,
    );
    assert.match(
      alertSettingsProblem({
        critical: { threshold: '5', condition: 'below' },
        info: { threshold: '9', condition: 'above' },
      }) ?? '',
      /same condition/,
    );
    assert.match(alertSettingsProblem({ alert_enabled: true }) ?? '', /at least one/);
  });
});
