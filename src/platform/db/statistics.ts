import { sql } from 'kysely';
import type { BackgroundTask } from '../background/runner.ts';
import type { Db } from './database.ts';

/**
 * Embedded PGlite runs no autovacuum, so planner statistics of a table are never gathered unless someone runs
 * ANALYZE: a table filled after start looks empty to the planner, which then picks the primary key over the right
 * index (measured: a customer's usage read scanned the environment's events through the primary key, 69 ms instead
 * of 0.2 ms). This task does what PostgreSQL's autovacuum does for statistics, with its default threshold: a table
 * changed by more than 50 rows + 10% since its last ANALYZE is analyzed, one table per batch. PostgreSQL servers
 * keep their own autovacuum and do not run it.
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
      if (table.vacuum) await sql`vacuum (analyze) ${sql.table(table.relname)}`.execute(db);
      else await sql`analyze ${sql.table(table.relname)}`.execute(db);
      return stale.rows.length > 1;
    },
  };
}
