import fs from 'node:fs';
import { openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrate.ts';

/**
 * Prepares the database the test processes of one run start from:
 * - PostgreSQL (DATABASE_URL, created fresh by the runner): applies the migrations once;
 * - PGlite: migrates an in-memory database and dumps it to `argv[2]`, so each test process loads a migrated
 *   copy (under a second) instead of running initdb and every migration again.
 */
const database = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: 'memory://' });
try {
  await migrateToLatest(database.db);
  if (database.dumpDataDir) {
    const target = process.argv[2];
    if (!target) throw new Error('usage: prepare-test-db.ts <dump-file>');
    const dump = await database.dumpDataDir();
    fs.writeFileSync(target, Buffer.from(await dump.arrayBuffer()));
  }
} finally {
  await database.close();
}
