import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { pglitePoolConfig } from '../../src/platform/db/pglite-connection.ts';
import { pgliteDump } from '../support/harness.ts';

/**
 * The embedded engine's driver connection (src/platform/db/pglite-connection.ts): the messages of one extended
 * query reach PGlite in one call, and the driver sees exactly what a socket would give it — rows and types,
 * errors in any step of a query, and a connection that goes on working after them. On an in-memory PGlite (the
 * run's migrated dump when there is one); skipped in the PostgreSQL pass, which does not use this connection.
 */
const onPostgres = Boolean(process.env.DATABASE_URL);
let pglite: PGlite;
let pool: pg.Pool;
let calls = 0;

before(async () => {
  if (onPostgres) return;
  pglite = await PGlite.create('memory://', pgliteDump());
  const original = pglite.execProtocolStream.bind(pglite);
  pglite.execProtocolStream = (...args: Parameters<PGlite['execProtocolStream']>) => {
    calls++;
    return original(...args);
  };
  pool = new pg.Pool(pglitePoolConfig(pglite));
  await pool.query(`create table items (id text primary key, amount numeric not null, at timestamptz)`);
});
after(async () => {
  if (onPostgres) return;
  await pool.end();
  await pglite.close();
});

async function counted<T>(work: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const before = calls;
  const result = await work();
  return { result, calls: calls - before };
}

describe('embedded driver connection', { skip: onPostgres && 'the PostgreSQL pass does not use it' }, () => {
  it('sends an extended query (parse, bind, describe, execute, sync) to the database in one call', async () => {
    const unnamed = await counted(() => pool.query('select $1::numeric * 2 as v', ['1.25']));
    assert.equal(unnamed.result.rows[0].v, '2.50');
    assert.equal(unnamed.calls, 1);
    const named = { name: 'double', text: 'select $1::numeric * 2 as v' };
    const first = await counted(() => pool.query({ ...named, values: ['3'] }));
    const again = await counted(() => pool.query({ ...named, values: ['4.5'] }));
    assert.deepEqual([first.result.rows[0].v, again.result.rows[0].v], ['6', '9.0']);
    assert.deepEqual([first.calls, again.calls], [1, 1]);
  });

  it('returns rows, types and counts as the driver does over a socket', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const inserted = await pool.query('insert into items (id, amount, at) values ($1, $2, $3), ($4, $5, null)', [
      'a',
      '10.000000001',
      at,
      'b',
      '-3',
    ]);
    assert.equal(inserted.rowCount, 2);
    const { rows, fields } = await pool.query('select id, amount, at from items where id = any($1) order by id', [
      ['a', 'b'],
    ]);
    assert.deepEqual(rows, [
      { id: 'a', amount: '10.000000001', at },
      { id: 'b', amount: '-3', at: null },
    ]);
    assert.deepEqual(
      fields.map((f) => f.name),
      ['id', 'amount', 'at'],
    );
    const updated = await pool.query('update items set amount = amount + 1 where id = $1', ['b']);
    assert.equal(updated.rowCount, 1);
    // A simple query with several statements answers with the results of each.
    const multi = (await pool.query('select 1 as x; select 2 as y')) as unknown as pg.QueryResult[];
    assert.deepEqual(
      multi.map((r) => r.rows),
      [[{ x: 1 }], [{ y: 2 }]],
    );
  });

  it('reports an error in any step of a query and keeps the connection usable', async () => {
    const client = await pool.connect();
    try {
      // Bind: the value does not fit the parameter's type.
      await assert.rejects(client.query('select $1::int as v', ['x']), { code: '22P02' });
      // Parse: a syntax error in a named statement; the name is not remembered, so it can be parsed again.
      await assert.rejects(client.query({ name: 'broken', text: 'selec $1::int', values: [1] }), { code: '42601' });
      // Execute: a constraint violation.
      await assert.rejects(client.query('insert into items (id, amount) values ($1, $2)', ['a', '1']), {
        code: '23505',
      });
      assert.deepEqual((await client.query('select $1::int + 1 as v', [41])).rows, [{ v: 42 }]);

      // Inside a transaction, an error aborts it until the rollback, and the rollback undoes its writes.
      await client.query('begin');
      await client.query('insert into items (id, amount) values ($1, $2)', ['c', '1']);
      await assert.rejects(client.query('select $1::int', ['not a number']), { code: '22P02' });
      await assert.rejects(client.query('select 1'), { code: '25P02' });
      await client.query('rollback');
      assert.equal((await client.query('select count(*)::int as n from items where id = $1', ['c'])).rows[0].n, 0);
    } finally {
      client.release();
    }
  });

  it('runs queries issued together one after another, in order', async () => {
    const values = Array.from({ length: 50 }, (_, i) => i);
    const results = await Promise.all(values.map((i) => pool.query('select $1::int * 3 as v', [i])));
    assert.deepEqual(
      results.map((r) => r.rows[0].v),
      values.map((i) => i * 3),
    );
  });
});
