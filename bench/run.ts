import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './support.ts';

/**
 * `npm run bench [name…]`: runs every `bench/*.bench.ts` (or the named ones) in its own process, one after the
 * other, so no benchmark disturbs another. Settings: BENCH_SECONDS (per phase, default 5), BENCH_ENGINES
 * (default "pglite,postgres"), BENCH_DATABASE_URL (default the local PostgreSQL).
 */
const wanted = process.argv.slice(2);
const files = fs
  .readdirSync(path.join(ROOT, 'bench'))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
let failed = 0;
for (const file of files) {
  process.stdout.write(`\n# ${file}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', file)], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
