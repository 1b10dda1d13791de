import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BENCH_SECONDS,
  type BenchServer,
  call,
  ENGINES,
  type Engine,
  formatRow,
  type LoadResult,
  print,
  printHeader,
  runLoad,
  startServer,
} from './support.ts';

/**
 * Webhooks, against a real server process and a receiver in this process on loopback:
 * - commit-to-receipt latency (customer created_at, set in the committing transaction, to the receiver's clock;
 *   both on this machine's wall clock) at a steady 50 creates/s;
 * - delivered events/s while the API creates customers as fast as 16 clients can, until the backlog is drained;
 * - the cost of the outbox on the write path: customer creates/s and wallet top-ups/s with an endpoint registered,
 *   divided by the same without one (measured before and after, averaged).
 */

interface Receipt {
  at: number;
  body: string;
}

async function startReceiver() {
  const receipts: Receipt[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      receipts.push({ at: Date.now(), body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    receipts,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** CPU time (user + system) of a process so far, in ms, from /proc (Linux); undefined elsewhere. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, at 100 ticks/s
  } catch {
    return undefined;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

let customerSeq = 0;
async function createCustomer(server: BenchServer, prefix: string) {
  const response = await call(server, 'POST', '/v1/customers', {
    external_id: `${prefix}-${process.pid}-${customerSeq++}`,
    name: 'Bench',
  });
  if (response.status !== 201) throw new Error(`create customer: ${response.status}`);
  return response.json as { id: string; created_at: string };
}

async function latency(server: BenchServer, receiver: Awaited<ReturnType<typeof startReceiver>>) {
  const createdAt = new Map<string, number>();
  const from = receiver.receipts.length;
  const end = performance.now() + BENCH_SECONDS * 1000;
  while (performance.now() < end) {
    const customer = await createCustomer(server, 'lat');
    createdAt.set(customer.id, Date.parse(customer.created_at));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await waitUntil(() => receiver.receipts.length - from >= createdAt.size, 30_000);
  const latencies = receiver.receipts
    .slice(from)
    .map((r) => {
      const payload = JSON.parse(r.body) as { customer: { id: string } };
      const start = createdAt.get(payload.customer.id);
      return start === undefined ? undefined : r.at - start;
    })
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
  print(
    `commit-to-receipt latency over ${latencies.length} events: p50 ${percentile(latencies, 50)} ms, ` +
      `p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`,
  );
}

async function throughput(server: BenchServer, receiver: Awaited<ReturnType<typeof startReceiver>>) {
  const from = receiver.receipts.length;
  const begin = Date.now();
  const load = await runLoad(16, BENCH_SECONDS * 1000, async (w) => {
    await createCustomer(server, `tp${w}`);
  });
  const loadEnded = Date.now();
  const expected = load.ops - load.errors;
  const drained = await waitUntil(() => receiver.receipts.length - from >= expected, 120_000);
  const delivered = receiver.receipts.length - from;
  const last = receiver.receipts.at(-1)?.at ?? Date.now();
  const seconds = (last - begin) / 1000;
  print(
    `API ${load.opsPerSecond.toFixed(0)} creates/s (16 clients); delivered ${delivered}/${expected} events in ` +
      `${seconds.toFixed(1)} s = ${(delivered / seconds).toFixed(0)} events/s; backlog drained ` +
      `${drained ? `${((last - loadEnded) / 1000).toFixed(2)} s after the load stopped` : 'NOT within 120 s'}`,
  );
}

const ROUNDS = 3;

/** Sums rounds of one scenario into one row (ops/s over the total time, latency percentiles averaged). */
function combine(results: LoadResult[]): LoadResult {
  const seconds = results.reduce((sum, r) => sum + r.ops / r.opsPerSecond, 0);
  const ops = results.reduce((sum, r) => sum + r.ops, 0);
  return {
    concurrency: results[0]!.concurrency,
    ops,
    opsPerSecond: ops / seconds,
    p50Ms: results.reduce((sum, r) => sum + r.p50Ms, 0) / results.length,
    p99Ms: results.reduce((sum, r) => sum + r.p99Ms, 0) / results.length,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

async function writePathCost(
  server: BenchServer,
  receiver: Awaited<ReturnType<typeof startReceiver>>,
  label: string,
  delivering: boolean,
) {
  printHeader(`write path with and without an endpoint (${server.engine}, ${label}); ratio = with / without`);
  // One wallet per client, so top-ups do not queue on one wallet's lock.
  const wallets: string[] = [];
  for (let w = 0; w < 16; w++) {
    const customer = await createCustomer(server, 'wallet');
    const wallet = await call(server, 'POST', '/v1/wallets', { customer_id: customer.id, currency: 'USD' });
    if (wallet.status !== 200) throw new Error(`create wallet: ${wallet.status} ${JSON.stringify(wallet.json)}`);
    wallets.push((wallet.json as { id: string }).id);
  }
  const seconds = (BENCH_SECONDS * 1000) / ROUNDS;
  const creates = () =>
    runLoad(16, seconds, async (w) => {
      await createCustomer(server, `wp${w}`);
    });
  const topUps = () =>
    runLoad(16, seconds, async (w) => {
      const response = await call(server, 'POST', `/v1/wallets/${wallets[w]}/top-up`, {
        credits_to_add: '1',
        transaction_reason: 'PURCHASED_CREDIT_DIRECT',
      });
      return response.status === 200;
    });
  const endpoint = await call(server, 'POST', '/v1/webhook-endpoints', { url: receiver.url, enabled: false });
  if (endpoint.status !== 201) throw new Error('create endpoint');
  const endpointPath = `/v1/webhook-endpoints/${(endpoint.json as { id: string }).id}`;
  const results = { createsWithout: [], createsWith: [], topUpsWithout: [], topUpsWith: [] } as Record<
    string,
    LoadResult[]
  >;
  const cpu = { createsWithout: 0, createsWith: 0, topUpsWithout: 0, topUpsWith: 0 } as Record<string, number>;
  const drains = delivering ? receiver : undefined;
  /** Runs one round and charges the server's CPU time to it, including delivering what the round enqueued. */
  const measured = async (name: string, load: () => Promise<LoadResult>, enqueues: boolean) => {
    const from = receiver.receipts.length;
    const before = cpuMs(server.pid) ?? 0;
    const result = await load();
    if (enqueues && drains)
      await waitUntil(() => receiver.receipts.length - from >= result.ops - result.errors, 60_000);
    cpu[name]! += (cpuMs(server.pid) ?? 0) - before;
    results[name]!.push(result);
  };
  // Alternating rounds, so drift (table growth, other load on the machine) falls on both sides alike.
  for (let round = 0; round < ROUNDS; round++) {
    await call(server, 'PUT', endpointPath, { enabled: false });
    await measured('createsWithout', creates, false);
    await measured('topUpsWithout', topUps, false);
    await call(server, 'PUT', endpointPath, { enabled: true });
    await measured('createsWith', creates, true);
    await measured('topUpsWith', topUps, true);
  }
  await call(server, 'DELETE', endpointPath);
  const createsWithout = combine(results.createsWithout!);
  const topUpsWithout = combine(results.topUpsWithout!);
  print(formatRow('customer create, no endpoint', createsWithout));
  print(formatRow('customer create, 1 endpoint', combine(results.createsWith!), createsWithout));
  print(formatRow('wallet top-up, no endpoint', topUpsWithout));
  print(formatRow('wallet top-up, 1 endpoint', combine(results.topUpsWith!), topUpsWithout));
  if (server.pid !== undefined && cpuMs(server.pid) !== undefined) {
    const perOp = (name: string) => cpu[name]! / results[name]!.reduce((sum, r) => sum + r.ops, 0);
    const line = (label: string, without: string, withEndpoint: string) =>
      `${label}: ${perOp(without).toFixed(2)} → ${perOp(withEndpoint).toFixed(2)} ms of server CPU per request ` +
      `(ratio ${(perOp(without) / perOp(withEndpoint)).toFixed(2)}; ` +
      `${server.engine === 'pglite' ? 'includes the embedded database' : 'Node process only, not PostgreSQL'})`;
    print(line('customer create', 'createsWithout', 'createsWith'));
    print(line('wallet top-up', 'topUpsWithout', 'topUpsWith'));
  }
}

async function run(engine: Engine) {
  const receiver = await startReceiver();
  printHeader(`delivery to a loopback receiver (${engine})`);
  // The configured endpoint (WEBHOOK_URL) of the default environment: the one the bench's API key belongs to.
  const server = await startServer(engine, { WEBHOOK_URL: receiver.url });
  try {
    await latency(server, receiver);
    await throughput(server, receiver);
    const endpoints = await call(server, 'GET', '/v1/webhook-endpoints');
    for (const endpoint of (endpoints.json as { items: Array<{ id: string }> }).items) {
      await call(server, 'DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
    }
    await writePathCost(server, receiver, 'delivery in the same process', true);
  } finally {
    await server.stop();
  }
  // The write path alone: this process only enqueues (WEBHOOK_DELIVERY=off), as an API node beside worker nodes.
  const apiOnly = await startServer(engine, { WEBHOOK_DELIVERY: 'off' });
  try {
    await writePathCost(apiOnly, receiver, 'outbox writes only, delivery elsewhere', false);
  } finally {
    await apiOnly.stop();
    await receiver.close();
  }
}

for (const engine of ENGINES) await run(engine);
