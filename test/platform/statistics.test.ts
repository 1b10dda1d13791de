import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../../src/platform/db/database.ts';
import { staleStatisticsTask } from '../../src/platform/db/statistics.ts';
import { openIsolatedDatabase } from '../support/harness.ts';

/**
 * The embedded engine has no autovacuum; the statistics task analyzes tables that changed enough, so the planner
 * picks the customer/event-name index for a customer's usage instead of scanning the environment by primary key.
 */
let database: DatabaseHandle;
before(async () => {
  database = await openIsolatedDatabase();
});
after(async () => {
  await database.close();
});

const modifiedSinceAnalyze = async (table: string) => {
  const row = await sql<{ n: string | null }>`
    select n_mod_since_analyze::text as n from pg_stat_user_tables where relname = ${table}`.execute(database.db);
  return Number(row.rows[0]?.n ?? 0);
};

describe('staleStatisticsTask', () => {
  it('analyzes a table changed by more than 50 rows + 10% and then has nothing left to do', async () => {
    // On PostgreSQL, autovacuum could analyze the table first (at its default target) and leave the task nothing.
    await sql`alter table events set (autovacuum_enabled = false)`.execute(database.db);
    await sql`
      insert into events (tenant_id, environment_id, id, event_name, external_customer_id, "timestamp", properties)
      select 't', 'e', 'stats-' || g, 'api_call', 'c-' || (g % 50), timestamptz '2026-03-01' + g * interval '1 minute',
             '{}'::jsonb
      from generate_series(1, 5000) g`.execute(database.db);
    // statistics counters are flushed by the backend shortly after the transaction
    for (let i = 0; i < 100 && (await modifiedSinceAnalyze('events')) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok((await modifiedSinceAnalyze('events')) >= 5000);
    const task = staleStatisticsTask(database.db);
    for (let i = 0; i < 50 && (await task.run()); i++);
    assert.equal(await task.run(), false);
    assert.equal(await modifiedSinceAnalyze('events'), 0);
    const plan = await sql<{ 'QUERY PLAN': string }>`
      explain select * from events where tenant_id = 't' and environment_id = 'e' and external_customer_id = 'c-7'
        and event_name = 'api_call' and "timestamp" >= timestamptz '2026-03-02'`.execute(database.db);
    assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /events_customer_name_time/);
    // The smaller sample (statistics target 10): at most 10 most common values, where autovacuum's default target
    // (100) keeps all 50 customers. The planner still knows there are 50 customers in 5,000 rows.
    const stats = await sql<{ n_distinct: number; common: number; rows: number }>`
      select s.n_distinct, coalesce(cardinality(s.most_common_vals::text::text[]), 0) as common, c.reltuples as rows
        from pg_stats s join pg_class c on c.relname = s.tablename
       where s.tablename = 'events' and s.attname = 'external_customer_id'`.execute(database.db);
    const [row] = stats.rows;
    assert.ok(row && row.common <= 10, `most common values: ${row?.common}`);
    assert.deepEqual({ n_distinct: row.n_distinct, rows: row.rows }, { n_distinct: 50, rows: 5000 });
  });

  it('vacuums a table whose rows were updated often (dead row versions), as autovacuum would', async () => {
    await sql`create table churn (id int primary key, n int not null) with (autovacuum_enabled = false)`.execute(
      database.db,
    );
    await sql`insert into churn select g, 0 from generate_series(1, 10) g`.execute(database.db);
    for (let i = 0; i < 30; i++) await sql`update churn set n = n + 1`.execute(database.db);
    const dead = async () => {
      const row = await sql<{ n: string | null }>`
        select n_dead_tup::text as n from pg_stat_user_tables where relname = 'churn'`.execute(database.db);
      return Number(row.rows[0]?.n ?? 0);
    };
    for (let i = 0; i < 100 && (await dead()) < 60; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok((await dead()) >= 60, `dead rows: ${await dead()}`);
    const task = staleStatisticsTask(database.db);
    for (let i = 0; i < 50 && (await task.run()); i++);
    assert.equal(await task.run(), false);
    assert.equal(await dead(), 0);
  });
});
