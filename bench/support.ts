import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Shared pieces of `npm run bench`: start a real server, drive load at a concurrency, print figures. */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type Engine = 'pglite' | 'postgres';

export interface BenchServer {
  url: string;
  apiKey: string;
  engine: Engine;
  databaseUrl: string | undefined;
  /** The server's process id (to read its CPU time from /proc). */
  pid: number | undefined;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A fresh PostgreSQL database for one benchmark run (dropped by stop()). */
export async function freshPostgresDatabase(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tally_bench_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * Starts `src/main.ts` in a child process (its own core), on a fresh embedded data dir or a fresh PostgreSQL
 * database, with a known API key.
 */
export async function startServer(engine: Engine, extraEnv: Record<string, string> = {}): Promise<BenchServer> {
  const port = await freePort();
  const apiKey = `sk_bench_${Date.now()}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-'));
  let database: { url: string; drop(): Promise<void> } | undefined;
  if (engine === 'postgres') {
    database = await freshPostgresDatabase(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  }
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      API_KEY: apiKey,
      LOG_LEVEL: 'warn',
      ...(database ? { DATABASE_URL: database.url } : { DATABASE_URL: '' }),
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('server did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    apiKey,
    engine,
    databaseUrl: database?.url,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      fs.rmSync(dataDir, { recursive: true, force: true });
      await database?.drop();
    },
  };
}

/** CPU time (user + system, ms) a process has used so far; Linux /proc, USER_HZ = 100. NaN elsewhere. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

export interface LoadResult {
  concurrency: number;
  ops: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

/**
 * Runs `operation` from `concurrency` workers for `durationMs`, bounded in time and count (no warm-up: callers that
 * want one run a short unrecorded load first). `operation(worker, i)` returns false or throws on failure.
 */
export async function runLoad(
  concurrency: number,
  durationMs: number,
  operation: (worker: number, iteration: number) => Promise<unknown>,
  options: { maxOps?: number } = {},
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let started = 0;
  const maxOps = options.maxOps ?? 1_000_000;
  const begin = performance.now();
  const end = begin + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < end && started < maxOps; i++) {
        started++;
        const t0 = performance.now();
        try {
          const ok = await operation(worker, i);
          if (ok === false) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - begin) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    ops: latencies.length,
    opsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
  };
}

export function formatRow(label: string, result: LoadResult, baseline?: LoadResult): string {
  const ratio = baseline ? (result.opsPerSecond / baseline.opsPerSecond).toFixed(2) : '';
  return [
    label.padEnd(44),
    String(result.concurrency).padStart(4),
    result.opsPerSecond.toFixed(0).padStart(9),
    result.p50Ms.toFixed(2).padStart(8),
    result.p99Ms.toFixed(2).padStart(8),
    String(result.errors).padStart(6),
    ratio.padStart(7),
  ].join(' ');
}

export function printHeader(title: string): void {
  process.stdout.write(`\n## ${title}\n`);
  process.stdout.write(
    `${'scenario'.padEnd(44)} ${'conc'.padStart(4)} ${'ops/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(6)} ${'ratio'.padStart(7)}\n`,
  );
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Keep-alive connections for the load generator. The client is node:http rather than fetch: on this 2-core machine
 * the load generator shares the cores with the server, and fetch (undici) spent ~0.35 ms of CPU per request on the
 * client side and made the server's share of each request costlier too (measured on GET /health at 16 clients: fetch
 * 2,483/s, server 0.34 ms/op; node:http 6,265/s, server 0.16 ms/op, client 0.07 ms/op). The figures then measure the
 * server, not the client.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** JSON request helper for HTTP benchmarks. */
export function call(
  server: BenchServer,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const url = new URL(server.url);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: urlPath,
        method,
        agent,
        headers: {
          'x-api-key': server.apiKey,
          ...(data !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
            : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: response.statusCode ?? 0, json: text ? JSON.parse(text) : null });
          } catch (error) {
            reject(error);
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(data);
  });
}

/** The PostgreSQL server benchmarks create their databases on. */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when the benchmark PostgreSQL server answers (benchmarks skip the engine, saying so, when it does not). */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export const BENCH_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
export const ENGINES: Engine[] = (process.env.BENCH_ENGINES ?? 'pglite,postgres').split(',') as Engine[];
