import { loadConfig } from './config.ts';
import { openDatabase, withTransaction } from './platform/db/database.ts';
import { migrateToLatest } from './platform/db/migrate.ts';
import { rebuildRollups } from './modules/events/events.repo.ts';

/**
 * `npm run rollups:rebuild`: recomputes the hourly usage rollups from raw events, in one transaction that holds
 * ingestion meanwhile. Rollups are derived data; this is the repair path if they are ever doubted.
 */
const config = loadConfig();
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
try {
  await migrateToLatest(database.db);
  const started = performance.now();
  const rows = await withTransaction(database.db, (tx) => rebuildRollups(tx));
  process.stdout.write(`rebuilt ${rows} rollup rows in ${Math.round(performance.now() - started)} ms\n`);
} finally {
  await database.close();
}
