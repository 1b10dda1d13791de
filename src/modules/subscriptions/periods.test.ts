import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addPeriods,
  calendarStart,
  firstPeriod,
  nextPeriod,
  periodContaining,
  type SubscriptionBillingPeriod,
} from './periods.ts';

const d = (s: string) => new Date(s);
const iso = (x: Date) => x.toISOString();

/** The ends of the first `n` periods, stepping with nextPeriod as the billing job will. */
function ends(
  start: string,
  period: SubscriptionBillingPeriod,
  count: number,
  cycle: 'anniversary' | 'calendar',
  n: number,
) {
  const first = firstPeriod(d(start), period, count, cycle);
  const out = [iso(first.periodEnd)];
  let end = first.periodEnd;
  for (let i = 1; i < n; i++) {
    const next = nextPeriod(first.billingAnchor, end, period, count);
    assert.equal(iso(next.periodStart), iso(end));
    end = next.periodEnd;
    out.push(iso(end));
  }
  return out;
}

describe('addPeriods', () => {
  it('clamps month ends to the anchor day without drifting', () => {
    const jan31 = d('2026-01-31T10:00:00Z');
    assert.equal(iso(addPeriods(jan31, 'MONTHLY', 1)), '2026-02-28T10:00:00.000Z');
    assert.equal(iso(addPeriods(jan31, 'MONTHLY', 2)), '2026-03-31T10:00:00.000Z');
    assert.equal(iso(addPeriods(jan31, 'MONTHLY', 3)), '2026-04-30T10:00:00.000Z');
    assert.equal(iso(addPeriods(d('2028-01-31T00:00:00Z'), 'MONTHLY', 1)), '2028-02-29T00:00:00.000Z');
    assert.equal(iso(addPeriods(d('2028-02-29T00:00:00Z'), 'ANNUAL', 1)), '2029-02-28T00:00:00.000Z');
    assert.equal(iso(addPeriods(d('2028-02-29T00:00:00Z'), 'ANNUAL', 4)), '2032-02-29T00:00:00.000Z');
    assert.equal(iso(addPeriods(d('2026-08-31T00:00:00Z'), 'QUARTERLY', 2)), '2027-02-28T00:00:00.000Z');
    assert.equal(iso(addPeriods(d('2026-08-31T00:00:00Z'), 'HALF_YEARLY', 1)), '2027-02-28T00:00:00.000Z');
    assert.equal(iso(addPeriods(d('2026-12-15T00:00:00Z'), 'MONTHLY', 1)), '2027-01-15T00:00:00.000Z');
  });

  it('adds days and weeks exactly', () => {
    assert.equal(iso(addPeriods(d('2026-02-27T05:00:00Z'), 'DAILY', 3)), '2026-03-02T05:00:00.000Z');
    assert.equal(iso(addPeriods(d('2026-12-28T00:00:00Z'), 'WEEKLY', 1)), '2027-01-04T00:00:00.000Z');
  });
});

describe('calendarStart', () => {
  it('finds the calendar boundary at or before a time', () => {
    const at = d('2026-08-19T13:45:00Z'); // a Wednesday
    assert.equal(iso(calendarStart(at, 'DAILY')), '2026-08-19T00:00:00.000Z');
    assert.equal(iso(calendarStart(at, 'WEEKLY')), '2026-08-17T00:00:00.000Z');
    assert.equal(iso(calendarStart(at, 'MONTHLY')), '2026-08-01T00:00:00.000Z');
    assert.equal(iso(calendarStart(at, 'QUARTERLY')), '2026-07-01T00:00:00.000Z');
    assert.equal(iso(calendarStart(at, 'HALF_YEARLY')), '2026-07-01T00:00:00.000Z');
    assert.equal(iso(calendarStart(at, 'ANNUAL')), '2026-01-01T00:00:00.000Z');
    assert.equal(iso(calendarStart(d('2026-08-16T23:59:59Z'), 'WEEKLY')), '2026-08-10T00:00:00.000Z'); // Sunday
  });
});

describe('periods of a subscription', () => {
  it('anniversary: anchored on the start, month ends clamped', () => {
    const first = firstPeriod(d('2026-01-31T09:30:00Z'), 'MONTHLY', 1, 'anniversary');
    assert.equal(iso(first.billingAnchor), '2026-01-31T09:30:00.000Z');
    assert.equal(iso(first.periodStart), '2026-01-31T09:30:00.000Z');
    assert.deepEqual(ends('2026-01-31T09:30:00Z', 'MONTHLY', 1, 'anniversary', 4), [
      '2026-02-28T09:30:00.000Z',
      '2026-03-31T09:30:00.000Z',
      '2026-04-30T09:30:00.000Z',
      '2026-05-31T09:30:00.000Z',
    ]);
    assert.deepEqual(ends('2026-01-31T00:00:00Z', 'MONTHLY', 2, 'anniversary', 3), [
      '2026-03-31T00:00:00.000Z',
      '2026-05-31T00:00:00.000Z',
      '2026-07-31T00:00:00.000Z',
    ]);
    assert.deepEqual(ends('2026-03-10T00:00:00Z', 'WEEKLY', 2, 'anniversary', 2), [
      '2026-03-24T00:00:00.000Z',
      '2026-04-07T00:00:00.000Z',
    ]);
  });

  it('calendar: a partial first period to the next boundary, then whole periods', () => {
    const first = firstPeriod(d('2026-01-15T12:00:00Z'), 'MONTHLY', 1, 'calendar');
    assert.equal(iso(first.billingAnchor), '2026-01-01T00:00:00.000Z');
    assert.equal(iso(first.periodStart), '2026-01-15T12:00:00.000Z');
    assert.deepEqual(ends('2026-01-15T12:00:00Z', 'MONTHLY', 1, 'calendar', 3), [
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
      '2026-04-01T00:00:00.000Z',
    ]);
    assert.deepEqual(ends('2026-05-20T00:00:00Z', 'QUARTERLY', 1, 'calendar', 2), [
      '2026-07-01T00:00:00.000Z',
      '2026-10-01T00:00:00.000Z',
    ]);
    assert.deepEqual(ends('2026-05-20T00:00:00Z', 'ANNUAL', 1, 'calendar', 2), [
      '2027-01-01T00:00:00.000Z',
      '2028-01-01T00:00:00.000Z',
    ]);
    assert.deepEqual(ends('2026-08-19T08:00:00Z', 'WEEKLY', 1, 'calendar', 2), [
      '2026-08-24T00:00:00.000Z',
      '2026-08-31T00:00:00.000Z',
    ]);
    // count > 1: the partial period ends at the next boundary, later periods are `count` units long
    assert.deepEqual(ends('2026-01-15T00:00:00Z', 'MONTHLY', 3, 'calendar', 3), [
      '2026-02-01T00:00:00.000Z',
      '2026-05-01T00:00:00.000Z',
      '2026-08-01T00:00:00.000Z',
    ]);
  });

  it('calendar: a start on a boundary is a whole first period', () => {
    assert.deepEqual(ends('2026-03-01T00:00:00Z', 'MONTHLY', 1, 'calendar', 2), [
      '2026-04-01T00:00:00.000Z',
      '2026-05-01T00:00:00.000Z',
    ]);
    assert.deepEqual(ends('2026-01-01T00:00:00Z', 'MONTHLY', 2, 'calendar', 2), [
      '2026-03-01T00:00:00.000Z',
      '2026-05-01T00:00:00.000Z',
    ]);
  });
});

describe('periodContaining', () => {
  const at = (anchor: string, period: 'DAILY' | 'MONTHLY' | 'WEEKLY', count: number, time: string) => {
    const p = periodContaining(new Date(anchor), period, count, new Date(time));
    return [p.periodStart.toISOString(), p.periodEnd.toISOString()];
  };
  it('finds the anchored period holding a time, start inclusive, end exclusive', () => {
    assert.deepEqual(at('2026-01-31T10:00:00Z', 'MONTHLY', 1, '2026-03-15T00:00:00Z'), [
      '2026-02-28T10:00:00.000Z',
      '2026-03-31T10:00:00.000Z',
    ]);
    assert.deepEqual(at('2026-01-31T10:00:00Z', 'MONTHLY', 1, '2026-03-31T10:00:00Z'), [
      '2026-03-31T10:00:00.000Z',
      '2026-04-30T10:00:00.000Z',
    ]);
    assert.deepEqual(at('2026-03-01T06:00:00Z', 'DAILY', 1, '2026-03-10T05:59:59Z'), [
      '2026-03-09T06:00:00.000Z',
      '2026-03-10T06:00:00.000Z',
    ]);
    assert.deepEqual(at('2026-01-01T00:00:00Z', 'MONTHLY', 3, '2026-07-01T00:00:00Z'), [
      '2026-07-01T00:00:00.000Z',
      '2026-10-01T00:00:00.000Z',
    ]);
    assert.deepEqual(at('2026-03-02T00:00:00Z', 'WEEKLY', 1, '2026-01-01T00:00:00Z'), [
      '2026-03-02T00:00:00.000Z',
      '2026-03-09T00:00:00.000Z',
    ]);
  });
});
