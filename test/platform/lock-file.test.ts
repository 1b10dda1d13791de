import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireDataDirLock, DataDirLockedError } from '../../src/platform/db/lock-file.ts';

/** The DATA_DIR lock on its own (test/process/restart.test.ts covers it with real server processes). */

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-lock-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('DATA_DIR lock', () => {
  it('is exclusive while held, names its owner, and is free again after release', () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir);
    assert.equal(fs.readFileSync(path.join(dir, 'tally.lock'), 'utf8'), String(process.pid));
    assert.throws(
      () => acquireDataDirLock(dir),
      (error: unknown) => error instanceof DataDirLockedError && error.ownerPid === process.pid,
    );
    lock.release();
    assert.ok(!fs.existsSync(path.join(dir, 'tally.lock')));
    acquireDataDirLock(dir).release();
    assert.deepEqual(fs.readdirSync(dir), [], 'no temporary files are left behind');
  });

  it('takes over a lock whose owner is dead, or whose content is not a pid', () => {
    for (const content of [String(deadPid()), '', 'garbage']) {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'tally.lock'), content);
      const lock = acquireDataDirLock(dir);
      assert.equal(fs.readFileSync(path.join(dir, 'tally.lock'), 'utf8'), String(process.pid));
      lock.release();
    }
  });

  it('does not remove a lock another process took after this one released', () => {
    const dir = tempDir();
    const lock = acquireDataDirLock(dir);
    fs.writeFileSync(path.join(dir, 'tally.lock'), '1'); // pid 1 (init) is alive: someone else's lock now
    lock.release();
    assert.equal(fs.readFileSync(path.join(dir, 'tally.lock'), 'utf8'), '1');
  });
});
