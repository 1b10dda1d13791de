import { loadConfig } from './config.ts';
import { openDatabase } from './platform/db/database.ts';
import { DataDirLockedError } from './platform/db/lock-file.ts';
import { migrateToLatest } from './platform/db/migrate.ts';

/** `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded database in DATA_DIR. */
const config = loadConfig();
let database: Awaited<ReturnType<typeof openDatabase>>;
try {
  database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
} catch (error) {
  if (!(error instanceof DataDirLockedError)) throw error;
  // The embedded database is open in a running server (which migrated it at start); say so, without a stack.
  process.stderr.write(`tally migrate: ${error.message}\n`);
  process.exit(1);
}
try {
  const applied = await migrateToLatest(database.db);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
} finally {
  await database.close();
}
