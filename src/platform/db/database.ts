import path from 'node:path';
import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import { acquireDataDirLock, type DataDirLock } from './lock-file.ts';
import { pglitePoolConfig } from './pglite-connection.ts';
import { usePreparedStatements } from './prepared.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** What repository functions accept: the database, or the transaction a service opened. */
export type Executor = Db | Tx;

export interface DatabaseHandle {
  db: Db;
  pool: pg.Pool;
  engine: 'pglite' | 'postgres';
  /** Embedded only: a tarball of the data directory (tests load a migrated copy instead of migrating again). */
  dumpDataDir?: () => Promise<Blob>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string | undefined;
  /** Embedded data directory; `memory://` for an in-memory database (tests). */
  dataDir: string;
  poolMax?: number;
  /** A PGlite data dump (from dumpDataDir) to start from, so tests skip initdb and migrations. */
  loadDataDir?: Blob | File;
  /** Named statements, parsed and planned once per connection (default true; see prepared.ts). */
  preparedStatements?: boolean;
}

/**
 * The only place that knows which backend is in use. Both backends are reached through one driver (`pg`):
 * PostgreSQL through a normal pool, PGlite through our own connection adapter (pglite-connection.ts; a pool of
 * exactly one connection, which serializes access; never touch the raw PGlite instance elsewhere).
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolMax ?? 20 });
    pool.on('error', () => {
      // An idle client lost its connection; the pool replaces it. Requests see errors on their own queries.
    });
    if (options.preparedStatements !== false) usePreparedStatements(pool);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, pool, engine: 'postgres', close: () => db.destroy() };
  }

  const inMemory = options.dataDir.startsWith('memory://');
  let lock: DataDirLock | undefined;
  if (!inMemory) lock = acquireDataDirLock(options.dataDir);
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const pglite = await PGlite.create(inMemory ? options.dataDir : path.join(options.dataDir, 'pgdata'), {
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    });
    const pool = new pg.Pool(pglitePoolConfig(pglite));
    if (options.preparedStatements !== false) usePreparedStatements(pool);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      pool,
      engine: 'pglite',
      dumpDataDir: async () => pglite.dumpDataDir('none'),
      async close() {
        await db.destroy();
        await pglite.close();
        lock?.release();
      },
    };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/**
 * Runs `fn` in one database transaction. Serialization failures and deadlocks are retried here (a few times,
 * with a short random pause), never by callers; `fn` must therefore be safe to run again, which it is when all
 * its effects are inside the transaction.
 */
export async function withTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 5 || !code || !RETRYABLE_SQLSTATES.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

/** True when a database error is a unique-constraint violation (optionally on one named index). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
