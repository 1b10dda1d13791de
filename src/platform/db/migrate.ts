import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import type { Db } from './database.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../migrations');

/**
 * Forward-only numbered SQL migrations: `migrations/NNNN-name/up.sql`, the same files on PGlite and PostgreSQL 15.
 * Kysely's Migrator runs each in a transaction under an advisory lock, so several processes starting at once
 * against one PostgreSQL apply each migration once.
 */
class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const entries = (await fs.readdir(this.dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && /^\d{4}-/.test(e.name))
      .map((e) => e.name)
      .sort();
    const migrations: Record<string, Migration> = {};
    for (const name of entries) {
      const text = await fs.readFile(path.join(this.dir, name, 'up.sql'), 'utf8');
      migrations[name] = {
        up: async (db) => {
          await sql.raw(text).execute(db);
        },
      };
    }
    return migrations;
  }
}

/**
 * Applies every migration not yet applied, in number order. Numbers are handed out per module and modules land in
 * any order, so a database that already ran 0005 must still accept a 0002 merged later: unordered application is
 * allowed (each migration depends only on lower-numbered ones that exist when it is written).
 */
export async function migrateToLatest(db: Db, options: { dir?: string } = {}): Promise<string[]> {
  const migrations = await new SqlFileMigrationProvider(options.dir ?? MIGRATIONS_DIR).getMigrations();
  // Up to date already (every start after the first, every test file on the migrated dump): one read of the
  // applied names instead of the Migrator's catalog queries, lock and transaction (~200 ms embedded). Applied
  // migrations are never removed, so "all applied" cannot become false under another process.
  const names = Object.keys(migrations);
  const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db).then(
    (result) => new Set(result.rows.map((row) => row.name)),
    () => new Set<string>(), // no migration table yet: a new database
  );
  // (Names applied that this code does not know — a newer version's — go on to the Migrator, which refuses them.)
  if (applied.size === names.length && names.every((name) => applied.has(name))) return [];
  // The Migrator gets the files already read, instead of reading them all again.
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`migration ${failed ?? '(unknown)'} failed: ${(error as Error).message}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
