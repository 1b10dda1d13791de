import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { type DatabaseHandle, withTransaction } from '../../src/platform/db/database.ts';
import {
  columnToWire,
  currencyPrecision,
  Dec,
  dec,
  parseDecimal,
  roundToCurrency,
  toStorageScale,
  toWire,
} from '../../src/platform/money.ts';
import { openTestDatabase } from '../support/harness.ts';

/**
 * Money never passes through a JS number: `numeric` columns come back from both engines (PGlite and PostgreSQL,
 * one `pg` driver) as exact strings, and the money module is the only place that parses, rounds and prints them.
 */

let database: DatabaseHandle;
before(async () => {
  database = await openTestDatabase();
});
after(async () => {
  await database.close();
});

/** Stores values in a numeric(20,9) column (or an unconstrained numeric one) and reads them back raw. */
async function roundTrip(values: string[], column: 'numeric(20,9)' | 'numeric' = 'numeric(20,9)'): Promise<unknown[]> {
  return withTransaction(database.db, async (tx) => {
    await sql`create temp table numeric_probe (i int, v ${sql.raw(column)}) on commit drop`.execute(tx);
    for (const [i, value] of values.entries()) {
      await sql`insert into numeric_probe values (${i}, ${value}::numeric)`.execute(tx);
    }
    const result = await sql<{ v: unknown }>`select v from numeric_probe order by i`.execute(tx);
    return result.rows.map((row) => row.v);
  });
}

describe(`numeric columns (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('come back as exact strings: huge, tiny, many decimals, negative', async () => {
    const rows = await roundTrip(['99999999999.999999999', '0.000000001', '-0.000000001', '12.5', '0', '-42', '0.1']);
    for (const value of rows) assert.equal(typeof value, 'string');
    assert.deepEqual(rows, [
      '99999999999.999999999',
      '0.000000001',
      '-0.000000001',
      '12.500000000',
      '0.000000000',
      '-42.000000000',
      '0.100000000',
    ]);
    assert.deepEqual(
      rows.map((v) => columnToWire(v as string)),
      ['99999999999.999999999', '0.000000001', '-0.000000001', '12.5', '0', '-42', '0.1'],
    );
  });

  it('keep more digits than a double has, unconstrained', async () => {
    const huge = '123456789012345678901234567890.123456789012345678901234567891';
    const tiny = '0.000000000000000000000000000001';
    const rows = await roundTrip([huge, tiny, '1e-30', '9007199254740993'], 'numeric');
    assert.deepEqual(rows, [huge, tiny, tiny, '9007199254740993']);
    assert.equal(toWire(rows[0] as string), huge);
    assert.equal(toWire(rows[3] as string), '9007199254740993'); // 2^53 + 1: a double would say ...992
  });

  it('round a 10th decimal half away from zero, as toStorageScale does', async () => {
    const inputs = ['0.0000000015', '-0.0000000015', '1.0000000004', '2.9999999995'];
    const rows = await roundTrip(inputs);
    assert.deepEqual(
      rows.map((v) => columnToWire(v as string)),
      inputs.map((v) => toWire(toStorageScale(dec(v)))),
    );
    assert.deepEqual(
      rows.map((v) => columnToWire(v as string)),
      ['0.000000002', '-0.000000002', '1', '3'],
    );
  });

  it('refuse a value too large for numeric(20,9) instead of truncating it', async () => {
    await assert.rejects(roundTrip(['100000000000']), (error: unknown) => {
      assert.equal((error as { code?: string }).code, '22003');
      return true;
    });
  });

  it('sum exactly in SQL (ten times 0.1 is 1) and count as strings', async () => {
    const result = await sql<{ total: unknown; n: unknown }>`
      select sum(x) as total, count(*) as n from (select 0.1::numeric(20,9) as x from generate_series(1, 10)) t`.execute(
      database.db,
    );
    const row = result.rows[0]!;
    assert.equal(typeof row.total, 'string');
    assert.equal(columnToWire(row.total as string), '1');
    assert.equal(row.n, '10'); // int8 is a string too: never silently lossy
  });

  it('round-trip any numeric(20,9) value exactly (property)', async () => {
    const integerPart = fc.bigInt({ min: 0n, max: 99_999_999_999n });
    const fraction = fc.integer({ min: 0, max: 999_999_999 });
    const decimalText = fc
      .tuple(fc.boolean(), integerPart, fraction, fc.integer({ min: 0, max: 9 }))
      .map(([negative, whole, frac, scale]) => {
        const digits = String(frac).padStart(9, '0').slice(0, scale);
        return `${negative ? '-' : ''}${whole}${scale > 0 ? `.${digits}` : ''}`;
      });
    const values = fc.sample(decimalText, { numRuns: 300, seed: 20260601 });
    const rows = await withTransaction(database.db, async (tx) => {
      const result = await sql<{ scaled: unknown; input: string }>`
        select x::numeric(20,9) as scaled, x as input from unnest(${values}::text[]) as x`.execute(tx);
      return result.rows;
    });
    assert.equal(rows.length, values.length);
    for (const row of rows) {
      assert.equal(typeof row.scaled, 'string');
      assert.equal(columnToWire(row.scaled as string), toWire(row.input), `for ${row.input}`);
    }
  });
});

describe('money module', () => {
  it('parses strings and JSON numbers without float arithmetic', () => {
    assert.equal(toWire(parseDecimal('0.1')!.plus(parseDecimal('0.2')!)), '0.3');
    assert.equal(toWire(parseDecimal(0.1)!.plus(parseDecimal(0.2)!)), '0.3');
    assert.equal(toWire(parseDecimal('1e-8')!), '0.00000001');
    assert.equal(toWire(parseDecimal(1e21)!), '1000000000000000000000');
    assert.equal(toWire(parseDecimal(' 12.50 ')!), '12.5');
    assert.equal(toWire(parseDecimal('.5')!), '0.5');
    assert.equal(toWire(parseDecimal('-0')!), '0');
    for (const bad of ['', 'abc', '1,5', '0x10', 'NaN', 'Infinity', '1e', null, undefined, {}, [], true]) {
      assert.equal(parseDecimal(bad), null, `accepted ${JSON.stringify(bad)}`);
    }
    assert.equal(parseDecimal(Number.NaN), null);
    assert.equal(parseDecimal(Number.POSITIVE_INFINITY), null);
  });

  it('prints plain notation, never exponents, trimming trailing zeros', () => {
    assert.equal(toWire('100.000000000'), '100');
    assert.equal(toWire('-0.000'), '0');
    assert.equal(toWire(dec('1.2345678901234567890123456789e+29')), '123456789012345678901234567890');
    assert.equal(toWire(dec('1e-20')), '0.00000000000000000001');
    assert.equal(JSON.stringify({ amount: toWire(dec('0.1').plus('0.2')) }), '{"amount":"0.3"}');
    assert.equal(columnToWire(null), '0');
  });

  it('prints column text by trimming it exactly as the Decimal path does (property)', () => {
    const canonical = fc
      .tuple(
        fc.boolean(),
        fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,19}$/)),
        fc.option(fc.stringMatching(/^[0-9]{1,12}$/), { nil: null }),
      )
      .map(([negative, whole, fraction]) => `${negative ? '-' : ''}${whole}${fraction === null ? '' : `.${fraction}`}`);
    fc.assert(
      fc.property(canonical, (text) => {
        const viaDecimal = dec(text).isZero() ? '0' : dec(text).toFixed();
        assert.equal(toWire(text), viaDecimal);
      }),
      { numRuns: 2000 },
    );
    for (const [text, wire] of [
      ['100.000000000', '100'],
      ['-0.000000000', '0'],
      ['0.500', '0.5'],
      ['-12.340', '-12.34'],
      ['1e3', '1000'],
      ['007', '7'],
      ['+5.10', '5.1'],
    ]) {
      assert.equal(toWire(text as string), wire, text);
    }
  });

  it('rounds to the currency precision with an explicit mode', () => {
    assert.equal(toWire(roundToCurrency(dec('2.345'), 'usd')), '2.35');
    assert.equal(toWire(roundToCurrency(dec('-2.345'), 'usd')), '-2.35'); // half away from zero
    assert.equal(toWire(roundToCurrency(dec('2.345'), 'USD', Dec.ROUND_HALF_EVEN)), '2.34');
    assert.equal(toWire(roundToCurrency(dec('2.355'), 'usd', Dec.ROUND_HALF_EVEN)), '2.36');
    assert.equal(toWire(roundToCurrency(dec('2.341'), 'usd', Dec.ROUND_UP)), '2.35');
    assert.equal(toWire(roundToCurrency(dec('2.349'), 'usd', Dec.ROUND_DOWN)), '2.34');
    assert.equal(toWire(roundToCurrency(dec('1234.5'), 'jpy')), '1235');
    assert.equal(toWire(roundToCurrency(dec('1.23456'), 'kwd')), '1.235');
    assert.equal(toWire(roundToCurrency(dec('1.23456'), 'eur')), '1.23');
    assert.deepEqual(['usd', 'JPY', 'krw', 'kwd', 'clf', 'xyz'].map(currencyPrecision), [2, 0, 0, 3, 4, 2]);
  });

  it('divides with 40 significant digits and rounds storage to 9 places', () => {
    const third = dec(1).div(3);
    assert.equal(third.toFixed(), `0.${'3'.repeat(40)}`);
    assert.equal(toWire(toStorageScale(third)), '0.333333333');
    assert.equal(toWire(toStorageScale(dec(2).div(3))), '0.666666667');
    // a third, stored three times, sums to 0.999999999: rounding happens once, in one place, visibly
    assert.equal(toWire(toStorageScale(third).times(3)), '0.999999999');
  });
});
