import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../../src/platform/db/database.ts';
import { MIGRATIONS_DIR, migrateToLatest } from '../../src/platform/db/migrate.ts';
import { openIsolatedDatabase } from '../support/harness.ts';

/** Forward-only numbered SQL migrations, applied at start (and by `npm run migrate`) on both engines. */

let database: DatabaseHandle & { url?: string | undefined };
let dir: string;
before(async () => {
  database = await openIsolatedDatabase({ migrated: false });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-migrations-'));
});
after(async () => {
  await database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function addMigration(name: string, upSql: string) {
  fs.mkdirSync(path.join(dir, name));
  fs.writeFileSync(path.join(dir, name, 'up.sql'), upSql);
}

async function tableExists(name: string): Promise<boolean> {
  const result = await sql<{ exists: boolean }>`select to_regclass(${name}) is not null as exists`.execute(database.db);
  return result.rows[0]!.exists;
}

describe('migrations', () => {
  it('apply in number order, once each, and a second run applies nothing', async () => {
    addMigration('0001-alpha', 'create table mig_alpha (id int primary key);');
    addMigration('0003-gamma', 'create table mig_gamma (alpha_id int references mig_alpha (id));');
    assert.deepEqual(await migrateToLatest(database.db, { dir }), ['0001-alpha', '0003-gamma']);
    assert.deepEqual(await migrateToLatest(database.db, { dir }), []);
    assert.ok((await tableExists('mig_alpha')) && (await tableExists('mig_gamma')));
  });

  it('apply a lower-numbered migration merged after a higher one already ran', async () => {
    addMigration('0002-beta', 'create table mig_beta (id int);');
    assert.deepEqual(await migrateToLatest(database.db, { dir }), ['0002-beta']);
    assert.ok(await tableExists('mig_beta'));
  });

  it('roll a failing migration back whole and name it in the error', async () => {
    addMigration('0004-broken', 'create table mig_half (id int);\nselect 1 / 0;');
    await assert.rejects(migrateToLatest(database.db, { dir }), /migration 0004-broken failed/);
    assert.equal(await tableExists('mig_half'), false, 'the failed migration left a table behind');
    fs.rmSync(path.join(dir, '0004-broken'), { recursive: true });
    assert.deepEqual(await migrateToLatest(database.db, { dir }), []);
  });

  it('apply each migration once when two processes migrate at the same moment', async () => {
    addMigration('0005-delta', 'create table mig_delta (id int);');
    addMigration('0006-epsilon', 'create table mig_epsilon (id int);');
    // On PostgreSQL a second pool stands in for a second process; PGlite has one connection per data dir.
    const second = database.url ? await openDatabase({ databaseUrl: database.url, dataDir: '' }) : undefined;
    try {
      const results = await Promise.all([
        migrateToLatest(database.db, { dir }),
        migrateToLatest((second ?? database).db, { dir }),
      ]);
      assert.deepEqual(results.flat().sort(), ['0005-delta', '0006-epsilon']);
    } finally {
      await second?.close();
    }
  });

  it('refuse a database that ran a migration this code does not have (a newer version)', async () => {
    const newer = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-migrations-newer-'));
    try {
      fs.cpSync(dir, newer, { recursive: true });
      fs.mkdirSync(path.join(newer, '0007-zeta'));
      fs.writeFileSync(path.join(newer, '0007-zeta', 'up.sql'), 'create table mig_zeta (id int);');
      assert.deepEqual(await migrateToLatest(database.db, { dir: newer }), ['0007-zeta']);
      // The older code knows 0001–0006, all applied, but the database also ran 0007.
      await assert.rejects(migrateToLatest(database.db, { dir }), /0007-zeta/);
    } finally {
      fs.rmSync(newer, { recursive: true, force: true });
    }
  });

  it("the product's migrations: unique four-digit numbers, each with up.sql and a notes.md saying why", () => {
    const folders = fs
      .readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    assert.ok(folders.length > 0);
    const numbers = new Set<string>();
    for (const folder of folders) {
      assert.match(folder, /^\d{4}-[a-z0-9-]+$/, `badly named migration folder ${folder}`);
      const number = folder.slice(0, 4);
      assert.ok(!numbers.has(number), `migration number ${number} is used twice`);
      numbers.add(number);
      for (const file of ['up.sql', 'notes.md']) {
        const content = fs.readFileSync(path.join(MIGRATIONS_DIR, folder, file), 'utf8');
        assert.ok(content.trim().length > 0, `${folder}/${file} is empty`);
      }
    }
  });
});
