import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * Named (prepared) statements for the pool's connections: each distinct SQL text is parsed and planned once per
 * connection and then only bound and executed. Kysely sends unnamed statements, which the server parses and plans
 * on every execution; on PGlite, where every statement crosses into WebAssembly on the one connection, that
 * parse/plan is a large part of a short transaction (measured in the wallet write path: see the README's wallet
 * benchmarks).
 *
 * Bounded: only statements with parameters and at most MAX_PARAMETERS of them are named (bulk inserts vary in
 * length and gain little), and at most MAX_NAMES distinct texts per process; beyond that statements run unnamed as
 * before. Disabled with DATABASE_PREPARED_STATEMENTS=off (for a transaction-mode connection pooler).
 */
const MAX_PARAMETERS = 64;
const MAX_NAMES = 4000;

type QueryFn = (...args: unknown[]) => unknown;

export function usePreparedStatements(pool: pg.Pool): void {
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_NAMES) {
      name = `t${createHash('sha1').update(text).digest('base64url').slice(0, 22)}`;
      names.set(text, name);
    }
    return name;
  };
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as QueryFn;
    (client as unknown as { query: QueryFn }).query = (text: unknown, values: unknown, ...rest: unknown[]) => {
      if (typeof text === 'string' && Array.isArray(values) && values.length > 0 && values.length <= MAX_PARAMETERS) {
        const name = nameOf(text);
        if (name) return original({ name, text, values }, ...rest);
      }
      return original(text, values, ...rest);
    };
  });
}
