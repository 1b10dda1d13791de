import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type DatabaseHandle } from '../../src/platform/db/database.ts';
import { openTestDatabase } from '../support/harness.ts';

/**
 * Statements with parameters run as named (prepared) statements, parsed once per connection; the results must be
 * exactly those of unnamed statements, also when one text is reused with other values and types, inside and outside
 * transactions, and for statements that are left unnamed (no parameters, or more than the limit).
 */
let database: DatabaseHandle;
before(async () => {
  database = await openTestDatabase();
});
after(async () => {
  await database.close();
});

/** Prepared statements live per connection: each test pins one. */
function onOneConnection<T>(fn: (conn: DatabaseHandle['db']) => Promise<T>): Promise<T> {
  return database.db.connection().execute((conn) => fn(conn as DatabaseHandle['db']));
}
async function preparedNames(conn: DatabaseHandle['db']): Promise<string[]> {
  const result = await sql<{ name: string }>`select name from pg_prepared_statements order by name`.execute(conn);
  return result.rows.map((r) => r.name);
}

describe('prepared statements', () => {
  it('names a parameterised statement once and reuses it with other values', async () => {
    await onOneConnection(async (conn) => {
      const query = (n: string) => sql<{ v: string }>`select (${n}::numeric * 2)::text as v`.execute(conn);
      const before = await preparedNames(conn);
      assert.equal((await query('1.5')).rows[0]?.v, '3.0');
      const afterFirst = await preparedNames(conn);
      assert.equal(afterFirst.length, before.length + 1, 'one new prepared statement');
      assert.equal((await query('0.000000001')).rows[0]?.v, '0.000000002');
      assert.deepEqual(await preparedNames(conn), afterFirst, 'the second run reuses it');
    });
  });

  it('leaves statements without parameters and bulk statements unnamed', async () => {
    await onOneConnection(async (conn) => {
      const before = await preparedNames(conn);
      await sql`select 1`.execute(conn);
      const many = Array.from({ length: 65 }, (_, i) => sql`${i}::int`);
      const sum = await sql<{ s: number }>`select (${sql.join(many, sql` + `)}) as s`.execute(conn);
      assert.equal(Number(sum.rows[0]?.s), (64 * 65) / 2);
      assert.deepEqual(await preparedNames(conn), before);
    });
  });

  it('works inside transactions and after a failed statement', async () => {
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await sql`select ${'x'}::int`.execute(tx); // invalid input: the transaction aborts
      }),
    );
    const ok = await database.db
      .transaction()
      .execute(async (tx) => (await sql<{ v: number }>`select ${41}::int + 1 as v`.execute(tx)).rows[0]?.v);
    assert.equal(ok, 42);
  });
});
