import fs from 'node:fs';
import path from 'node:path';

/**
 * An exclusive lock on the embedded data directory (PGlite has none: a second process would open the same files
 * and silently diverge). The lock is a file holding the owner's pid, created with O_EXCL. A lock whose pid no
 * longer runs is stale (the owner was killed) and is taken over.
 */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
  ) {
    super(
      `The data directory ${dataDir} is in use by another Tally process (pid ${ownerPid}). ` +
        'Stop that process, or start this one with another DATA_DIR.',
    );
    this.name = 'DataDirLockedError';
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataDirLock {
  release(): void;
}

export function acquireDataDirLock(dataDir: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, 'tally.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // The lock appears with its pid already in it (written aside, then hard-linked into place, which fails if
      // the lock exists): created with O_EXCL and written afterwards, a racing process could read it empty, take
      // it for stale and remove it.
      const pending = `${lockPath}.${process.pid}.${Date.now()}`;
      fs.writeFileSync(pending, String(process.pid));
      try {
        fs.linkSync(pending, lockPath);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
        // A filesystem without hard links: fall back to an exclusive create, then write.
        const fd = fs.openSync(lockPath, 'wx');
        fs.writeSync(fd, String(process.pid));
        fs.closeSync(fd);
      } finally {
        fs.rmSync(pending, { force: true });
      }
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            if (fs.readFileSync(lockPath, 'utf8').trim() === String(process.pid)) fs.unlinkSync(lockPath);
          } catch {
            // already gone
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const ownerPid = Number.parseInt(fs.readFileSync(lockPath, 'utf8').trim(), 10);
      if (Number.isInteger(ownerPid) && ownerPid > 0 && processIsAlive(ownerPid)) {
        throw new DataDirLockedError(dataDir, ownerPid);
      }
      // Stale: the owner died without releasing. Remove and retry the exclusive create.
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not take the lock on ${dataDir}`);
}
