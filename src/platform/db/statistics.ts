import { sql } from 'kysely';
import type { BackgroundTask } from '../background/runner.ts';
import type { Db } from './database.ts';

/**
 * ANALYZE samples 300 × this many rows of a table (PostgreSQL's default, 100, samples 30,000). Embedded, ANALYZE
 * runs on the only connection and every request waits for it: on a 50,000-entry ledger it took ~320 ms at the
 * default and ~37 ms at 10 (idle machine; 700 ms at the default under 64 debiting clients, the p99 of that phase
 * 783 ms). What the plans here need is what a 3,000-row sample still gives: the table's size, and per column the
 * number of distinct values and the most common ones (a hot wallet, a busy customer); histograms get 10 buckets.
 */
const STATISTICS_TARGET = 10;

/**
 * Embedded PGlite runs no autovacuum, so planner statistics of a table are never gathered unless someone runs
 * ANALYZE: a table filled after start looks empty to the planner, which then picks the primary key over the right
 * index (measured: a customer's usage read scanned the environment's events through the primary key, 69 ms instead
 * of 0.2 ms). This task does what PostgreSQL's autovacuum does for statistics, with its default threshold: a table
 * changed by more than 50 rows + 10% since its last ANALYZE is analyzed, one table per batch, with a smaller sample
 * than autovacuum's (above). PostgreSQL servers keep their own autovacuum and do not run it.
 */
export function staleStatisticsTask(db: Db, intervalMs = 10_000): BackgroundTask {
  return {
    name: 'statistics.vacuum-analyze',
    intervalMs,
    async run() {
      // Also autovacuum's other half, with its default threshold (50 rows + 20% dead): without it, rows that are
      // updated often (a hot wallet's credit lot drains on every debit) leave dead versions in the table and its
      // indexes for good.
      const stale = await sql<{ relname: string; vacuum: boolean }>`
        select relname, n_dead_tup > 50 + 0.2 * n_live_tup as vacuum from pg_stat_user_tables
        where schemaname = 'public'
          and (n_mod_since_analyze > 50 + 0.1 * n_live_tup or n_dead_tup > 50 + 0.2 * n_live_tup)
        order by greatest(n_mod_since_analyze, n_dead_tup) desc
        limit 2`.execute(db);
      const table = stale.rows[0];
      if (!table) return false;
      if (table.vacuum) await sql`vacuum ${sql.table(table.relname)}`.execute(db);
      await db.transaction().execute(async (tx) => {
        await sql`set local default_statistics_target = ${sql.raw(String(STATISTICS_TARGET))}`.execute(tx);
        await sql`analyze ${sql.table(table.relname)}`.execute(tx);
      });
      return stale.rows.length > 1;
    },
  };
}
