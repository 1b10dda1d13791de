import type { Insertable, Selectable, Updateable } from 'kysely';
import { CompiledQuery, sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import {
  applyFilters,
  applySort,
  type FieldMap,
  type FilterCondition,
  type SortCondition,
} from '../../platform/db/query.ts';
import type { WalletAlertLogsTable, WalletsTable, WalletTransactionsTable } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';

export type WalletRow = Selectable<WalletsTable>;
export type WalletTransactionRow = Selectable<WalletTransactionsTable>;

export const WALLET_UNIQUE_ACTIVE = 'wallets_one_active';
export const WALLET_TRANSACTION_UNIQUE_IDEMPOTENCY = 'wallet_transactions_idempotency';

export const WALLET_TRANSACTION_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  wallet_id: { column: 'wallet_id', type: 'string' },
  customer_id: { column: 'customer_id', type: 'string' },
  type: { column: 'type', type: 'string' },
  amount: { column: 'amount', type: 'number' },
  credit_amount: { column: 'credit_amount', type: 'number' },
  credit_balance_before: { column: 'credit_balance_before', type: 'number' },
  credit_balance_after: { column: 'credit_balance_after', type: 'number' },
  credits_available: { column: 'credits_available', type: 'number' },
  transaction_status: { column: 'transaction_status', type: 'string' },
  reference_type: { column: 'reference_type', type: 'string' },
  reference_id: { column: 'reference_id', type: 'string' },
  description: { column: 'description', type: 'string' },
  expiry_date: { column: 'expiry_date', type: 'date' },
  priority: { column: 'priority', type: 'number' },
  transaction_reason: { column: 'transaction_reason', type: 'string' },
  currency: { column: 'currency', type: 'string' },
  parent_transaction_id: { column: 'parent_transaction_id', type: 'string' },
  idempotency_key: { column: 'idempotency_key', type: 'string' },
  status: { column: 'status', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
  created_by: { column: 'created_by', type: 'string' },
  updated_by: { column: 'updated_by', type: 'string' },
};

// ---------------------------------------------------------------------------------------------------------------
// wallets

export function insertWallet(db: Executor, row: Insertable<WalletsTable>) {
  return db.insertInto('wallets').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findWalletById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db
    .selectFrom('wallets')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published');
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** An open credit lot as the drain planner reads it. */
export interface OpenLotRow {
  id: string;
  priority: number | null;
  expiry_date: Date | null;
  credit_amount: string;
  credits_available: string;
}

/**
 * The locking read of a ledger write, as fixed SQL text (built once, not by the query builder on every request):
 * the wallet row, locked, plus whether the idempotency key is already used in the environment (one probe of the
 * idempotency index; id and hash travel as "id hash" — an id never contains a space).
 *
 * For a debit it also reads the first page of open lots in drain order (`open_lots`, a JSON array) in the same
 * round trip. That read runs with the statement's snapshot, taken before the row lock was granted: if another
 * transaction changed the wallet between the snapshot and the lock (PostgreSQL, concurrent writers of one wallet),
 * the lots seen may be stale. Every change of a wallet's lots also updates the wallet row in the same transaction
 * (a credit or debit changes the balance; completing a pending top-up writes the balances), so comparing the
 * locked row version with the version the snapshot sees (`xmin`) tells whether the lots are current; when they are
 * not, the caller reads them again (`lots_current = false`). On the embedded engine writes are serialized on its
 * one connection and the lots are always current.
 */
const LOCK_SELECT = `select w.*, (
    select k.id || ' ' || k.request_hash from wallet_transactions k
     where k.tenant_id = $1 and k.environment_id = $2 and k.idempotency_key = $4 and k.status = 'published') as key_holder`;
const LOCK_FROM = `
  from wallets w
 where w.tenant_id = $1 and w.environment_id = $2 and w.id = $3 and w.status = 'published'
   for update of w`;
const LOCK_FOR_CREDIT_SQL = `${LOCK_SELECT}${LOCK_FROM}`;
/**
 * An open credit lot: a completed credit with credits available. It is the predicate of the partial indexes
 * `wallet_transactions_open_lots` and `wallet_transactions_expiring`, written as they are (migration 0018) so the
 * planner matches them: `lot_open` is the stored generated column for `credits_available > 0` (and the rest), so a
 * drain changes no indexed column. Type and status stay spelled out: without planner statistics (a new database,
 * before autovacuum's first ANALYZE) their default selectivity is what makes the planner read a wallet's lots in
 * index order instead of collecting and sorting all of them (measured: 9 ms instead of 0.05 ms for 15,000 lots).
 */
const OPEN_LOT_SQL = `type = 'credit' and transaction_status = 'completed' and lot_open`;
/** The first $6 open lots of wallet `w` eligible at $5, in drain order (a JSON array). */
const OPEN_LOTS_OF_W = `(select coalesce(json_agg(json_build_array(l.id, l.priority, l.expiry_date, l.credit_amount::text,
                                             l.credits_available::text)), '[]'::json)
     from (select id, priority, expiry_date, credit_amount, credits_available from wallet_transactions
            where wallet_id = w.id and ${OPEN_LOT_SQL}
              and (expiry_date is null or expiry_date >= $5)
            order by priority asc nulls last, expiry_date asc nulls last, credit_amount desc, id asc
            limit $6) l)`;
/** Whether the statement's snapshot saw wallet `w` as locked, and so its lots as current. */
const LOTS_CURRENT = `w.xmin = (select s.xmin from wallets s where s.id = w.id) as lots_current`;
const LOCK_FOR_DEBIT_SQL = `${LOCK_SELECT}, ${OPEN_LOTS_OF_W} as open_lots, ${LOTS_CURRENT}${LOCK_FROM}`;

type LotTuple = [string, number | null, string | null, string, string];

/** The open lots of OPEN_LOTS_OF_W, from their JSON tuples. */
function lotsOf(tuples: LotTuple[]): OpenLotRow[] {
  return tuples.map(([id, priority, expiry, creditAmount, available]) => ({
    id,
    priority,
    expiry_date: expiry === null ? null : new Date(expiry),
    credit_amount: creditAmount,
    credits_available: available,
  }));
}

type LockedRow = WalletRow & {
  key_holder: string | null;
  open_lots?: LotTuple[];
  lots_current?: boolean;
};

/**
 * Locks a wallet for a ledger write and, in the same round trip, says whether an idempotency key is already used
 * (the transaction id and request hash of the entry holding it) and, with `lots`, reads the first `lots.limit` open
 * lots eligible at `lots.eligibleAt` in drain order. `openLots` is null when not asked for or not current.
 */
export async function lockWalletForWrite(
  db: Executor,
  scope: Scope,
  id: string,
  idempotencyKey: string,
  lots?: { eligibleAt: Date; limit: number },
) {
  const query = lots
    ? CompiledQuery.raw(LOCK_FOR_DEBIT_SQL, [
        scope.tenantId,
        scope.environmentId,
        id,
        idempotencyKey,
        lots.eligibleAt,
        lots.limit,
      ])
    : CompiledQuery.raw(LOCK_FOR_CREDIT_SQL, [scope.tenantId, scope.environmentId, id, idempotencyKey]);
  const row = (await db.executeQuery<LockedRow>(query as CompiledQuery<LockedRow>)).rows[0];
  if (!row) return undefined;
  const { key_holder: holder, open_lots: lotTuples, lots_current: current, ...wallet } = row;
  const [transactionId, requestHash] = holder ? holder.split(' ') : [];
  const openLots: OpenLotRow[] | null = lotTuples && current ? lotsOf(lotTuples) : null;
  return {
    wallet: wallet as WalletRow,
    key: transactionId ? { transactionId, requestHash: requestHash ?? '' } : null,
    openLots,
  };
}

/**
 * The locking read of a batch of ledger writes (group commit, see the wallets service): the wallets `ids`, locked in
 * id order (two batches never wait on each other in a cycle), plus which of `keys` are already used in the
 * environment (the same probe of the idempotency index, for every key at once). The wallets in `lots.walletIds`
 * (those with a debit in the batch) come with their first `lots.limit` open lots eligible at `lots.eligibleAt` and
 * whether they are current (the same `xmin` check as lockWalletForWrite); a top-up reads no lots.
 */
const LOCK_BATCH_SQL = `select w.*, w.tenant_id = $1 and w.environment_id = $2 and w.status = 'published' as in_scope,
  case when w.id = any($7::text[]) then ${OPEN_LOTS_OF_W} end as open_lots, ${LOTS_CURRENT},
  (select json_agg(json_build_array(q.key, (
            select k.id || ' ' || k.request_hash from wallet_transactions k
             where k.tenant_id = $1 and k.environment_id = $2 and k.idempotency_key = q.key
               and k.status = 'published')))
     from unnest($4::text[]) as q(key)) as key_holders
  from wallets w
 where w.id = any($3::text[])
 order by w.id
   for update of w`;

type BatchLockedRow = WalletRow & {
  in_scope: boolean;
  open_lots: LotTuple[] | null;
  lots_current: boolean;
  key_holders: Array<[string, string | null]> | null;
};

export async function lockWalletsForBatch(
  db: Executor,
  scope: Scope,
  ids: string[],
  keys: string[],
  lots: { eligibleAt: Date; limit: number; walletIds: string[] },
  options: { genericPlan?: boolean } = {},
) {
  // PostgreSQL re-plans this prepared statement on every execution: its generic plan, costed for arrays of unknown
  // length, always looks dearer than a custom plan for the actual arrays, so the plan cache never switches to it
  // (pg_prepared_statements: 0 generic, 250 custom plans after 250 batches). Embedded, planning was ~1.3 ms of the
  // statement's ~2.8 ms (1.45 ms on the generic plan); the generic plan is the same index walk (it names wallets
  // and keys by index), and `genericPlan` asks for it for the rest of the transaction. On PostgreSQL the extra
  // round trip costs what the planning saves (measured: lock 1.74 -> 1.16 ms, plus 0.3 ms for the SET), so the
  // service asks only embedded.
  if (options.genericPlan) await db.executeQuery(CompiledQuery.raw('set local plan_cache_mode = force_generic_plan'));
  const query = CompiledQuery.raw(LOCK_BATCH_SQL, [
    scope.tenantId,
    scope.environmentId,
    ids,
    keys,
    lots.eligibleAt,
    lots.limit,
    lots.walletIds,
  ]) as CompiledQuery<BatchLockedRow>;
  const rows = (await db.executeQuery(query)).rows;
  const wallets = new Map<string, { wallet: WalletRow; openLots: OpenLotRow[] | null }>();
  const holders = new Map<string, { transactionId: string; requestHash: string }>();
  for (const row of rows) {
    const { in_scope: inScope, open_lots: lotTuples, lots_current: current, key_holders: keyTuples, ...wallet } = row;
    for (const [key, holder] of keyTuples ?? []) {
      if (holder === null) continue;
      const [transactionId, requestHash] = holder.split(' ');
      holders.set(key, { transactionId: transactionId as string, requestHash: requestHash ?? '' });
    }
    if (!inScope) continue;
    wallets.set(wallet.id, {
      wallet: wallet as WalletRow,
      openLots: current && lotTuples ? lotsOf(lotTuples) : null,
    });
  }
  return { wallets, holders };
}

/** Every column of wallet_transactions with its type, in the order appendLedgerEntries sends them as arrays. */
const LEDGER_COLUMNS = [
  ['id', 'text'],
  ['tenant_id', 'text'],
  ['environment_id', 'text'],
  ['wallet_id', 'text'],
  ['customer_id', 'text'],
  ['type', 'text'],
  ['amount', 'numeric'],
  ['credit_amount', 'numeric'],
  ['credit_balance_before', 'numeric'],
  ['credit_balance_after', 'numeric'],
  ['credits_available', 'numeric'],
  ['transaction_status', 'text'],
  ['reference_type', 'text'],
  ['reference_id', 'text'],
  ['description', 'text'],
  ['metadata', 'jsonb'],
  ['expiry_date', 'timestamptz'],
  ['expiry_recheck_at', 'timestamptz'],
  ['priority', 'integer'],
  ['transaction_reason', 'text'],
  ['currency', 'text'],
  ['parent_transaction_id', 'text'],
  ['conversion_rate', 'numeric'],
  ['topup_conversion_rate', 'numeric'],
  ['idempotency_key', 'text'],
  ['request_hash', 'text'],
  ['status', 'text'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['created_by', 'text'],
  ['updated_by', 'text'],
] as const satisfies ReadonlyArray<readonly [keyof WalletTransactionRow, string]>;

/**
 * appendLedgerEntries in one statement of fixed text: every value travels as one array per column (unnest), so
 * the statement is prepared once whatever the batch size. The lot and balance updates name their rows by primary
 * key (`= any`), which keeps them on the index whatever the planner thinks of the arrays' sizes.
 */
const APPEND_BATCH_SQL = `with drained as (
  update wallet_transactions t set credits_available = v.available, updated_at = $1
    from unnest($2::text[], $3::numeric[]) as v(id, available)
   where t.id = any($2::text[]) and t.id = v.id and t.type = 'credit'),
balanced as (
  update wallets w set credit_balance = v.credit_balance, balance = v.balance, updated_at = $1
    from unnest($6::text[], $7::numeric[], $8::numeric[]) as v(id, credit_balance, balance)
   where w.id = any($6::text[]) and w.id = v.id and (w.tenant_id, w.environment_id) = ($4, $5))
insert into wallet_transactions (${LEDGER_COLUMNS.map(([c]) => `"${c}"`).join(', ')})
select * from unnest(${LEDGER_COLUMNS.map(([, type], i) => `$${9 + i}::${type}[]`).join(', ')})`;

/**
 * Appends many ledger entries in one statement (a batch of ledger writes): inserts `rows` (metadata as JSON text),
 * sets drained lots' credits_available (absolute values) and wallets' balances (absolute values). The caller holds
 * every wallet's row lock and computed every value, exactly as for appendLedgerEntry.
 */
export async function appendLedgerEntries(
  db: Executor,
  scope: Scope,
  entries: {
    rows: Array<Omit<WalletTransactionRow, 'metadata'> & { metadata: string }>;
    lots: Array<{ id: string; credits_available: string }>;
    balances: Array<{ id: string; credit_balance: string; balance: string }>;
    now: Date;
  },
) {
  const { rows, lots, balances } = entries;
  const parameters: unknown[] = [
    entries.now,
    lots.map((l) => l.id),
    lots.map((l) => l.credits_available),
    scope.tenantId,
    scope.environmentId,
    balances.map((b) => b.id),
    balances.map((b) => b.credit_balance),
    balances.map((b) => b.balance),
  ];
  for (const [column] of LEDGER_COLUMNS) parameters.push(rows.map((row) => row[column]));
  await db.executeQuery(CompiledQuery.raw(APPEND_BATCH_SQL, parameters));
}

export function updateWalletById(db: Executor, scope: Scope, id: string, changes: Updateable<WalletsTable>) {
  return db
    .updateTable('wallets')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findActiveWalletOfCustomer(
  db: Executor,
  scope: Scope,
  customerId: string,
  currency: string,
  walletType: string,
) {
  return db
    .selectFrom('wallets')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', customerId)
    .where('currency', '=', currency)
    .where('wallet_type', '=', walletType)
    .where('wallet_status', '=', 'active')
    .where('status', '=', 'published')
    .executeTakeFirst();
}

export function listActiveWalletsByCustomerId(db: Executor, scope: Scope, customerId: string) {
  return db
    .selectFrom('wallets')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('customer_id', '=', customerId)
    .where('wallet_status', '=', 'active')
    .where('status', '=', 'published')
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}

export interface WalletFilter {
  limit: number;
  offset: number;
  order?: 'asc' | 'desc' | undefined;
  sort?: string | undefined;
  wallet_ids?: string[] | undefined;
  wallet_status?: string | undefined;
  alert_enabled?: boolean | undefined;
  customer_id?: string | undefined;
}

const WALLET_SORT_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
  credit_balance: { column: 'credit_balance', type: 'number' },
  balance: { column: 'balance', type: 'number' },
  name: { column: 'name', type: 'string' },
  currency: { column: 'currency', type: 'string' },
};

export async function listWalletsByFilter(db: Executor, scope: Scope, filter: WalletFilter) {
  let query = db
    .selectFrom('wallets')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', 'published');
  if (filter.wallet_ids) query = query.where('id', 'in', filter.wallet_ids.length ? filter.wallet_ids : ['']);
  if (filter.wallet_status) query = query.where('wallet_status', '=', filter.wallet_status);
  if (filter.customer_id) query = query.where('customer_id', '=', filter.customer_id);
  if (filter.alert_enabled !== undefined) {
    query = query.where(
      sql<boolean>`coalesce((alert_settings ->> 'alert_enabled')::boolean, false) = ${filter.alert_enabled}`,
    );
  }
  const sort = filter.sort && filter.sort !== 'created_at' ? filter.sort : undefined;
  const [countRow, rows] = await Promise.all([
    query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    applySort(query.selectAll(), sort, filter.order, WALLET_SORT_FIELDS, 'wallet')
      .limit(filter.limit)
      .offset(filter.offset)
      .execute(),
  ]);
  return { rows, total: Number(countRow.total) };
}

// ---------------------------------------------------------------------------------------------------------------
// wallet transactions (ledger entries; credit entries are the credit lots)

/** An open credit lot (see OPEN_LOT_SQL), for the query builder. */
const OPEN_LOT = sql.raw<boolean>(OPEN_LOT_SQL);

export function findWalletTransactionById(
  db: Executor,
  scope: Scope,
  id: string,
  options: { forUpdate?: boolean } = {},
) {
  let query = db
    .selectFrom('wallet_transactions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function findWalletTransactionByIdempotencyKey(db: Executor, scope: Scope, key: string) {
  return db
    .selectFrom('wallet_transactions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('idempotency_key', '=', key)
    .where('status', '=', 'published')
    .executeTakeFirst();
}

export function findPendingChildTransactions(db: Executor, scope: Scope, parentId: string) {
  return db
    .selectFrom('wallet_transactions')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('parent_transaction_id', '=', parentId)
    .where('transaction_status', '=', 'pending')
    .orderBy('id')
    .execute();
}

/** Open credit lots of a wallet in drain order (the partial index's order), one page at a time. */
export function listOpenLotsByWalletId(
  db: Executor,
  walletId: string,
  options: { eligibleAt?: Date; onlyId?: string; limit: number; offset: number },
) {
  let query = db
    .selectFrom('wallet_transactions')
    .select(['id', 'priority', 'expiry_date', 'credit_amount', 'credits_available'])
    .where('wallet_id', '=', walletId)
    .where(OPEN_LOT);
  if (options.eligibleAt) {
    const at = options.eligibleAt;
    query = query.where((eb) => eb.or([eb('expiry_date', 'is', null), eb('expiry_date', '>=', at)]));
  }
  if (options.onlyId) query = query.where('id', '=', options.onlyId);
  return query
    .orderBy(sql`priority asc nulls last`)
    .orderBy(sql`expiry_date asc nulls last`)
    .orderBy('credit_amount', 'desc')
    .orderBy('id', 'asc')
    .limit(options.limit)
    .offset(options.offset)
    .execute();
}

/** SQL text of appendLedgerEntry per shape (columns, number of drained lots, balances or not); built once each. */
const appendSqlCache = new Map<string, string>();

function appendSql(columns: string[], lotCount: number, withBalances: boolean): string {
  const cacheKey = `${columns.join(',')}|${lotCount}|${withBalances}`;
  let text = appendSqlCache.get(cacheKey);
  if (text !== undefined) return text;
  // Parameters in the order appendLedgerEntry pushes them: the lots' (now, then id and credits_available
  // per lot), the balances' (tenant, environment, wallet id, credit balance, balance, updated_at), then the row.
  // Only parameters the text uses are sent (the server cannot type an unused one).
  let n = 0;
  const ctes: string[] = [];
  if (lotCount > 0) {
    const now = ++n;
    const ids: string[] = [];
    const values = Array.from({ length: lotCount }, () => {
      const id = `$${++n}`;
      ids.push(id);
      return `(${id}, $${++n}::numeric)`;
    }).join(', ');
    // The lots are named by primary key only (`t.id in (…)`), as in appendLedgerEntries: with a wallet_id condition
    // too, a planner without statistics read every entry of the wallet through its wallet_id index to find them.
    ctes.push(`drained as (
      update wallet_transactions as t
         set credits_available = v.available, updated_at = $${now}
        from (values ${values}) as v(id, available)
       where t.id in (${ids.join(', ')}) and t.id = v.id and t.type = 'credit')`);
  }
  if (withBalances) {
    ctes.push(`balanced as (
      update wallets
         set credit_balance = $${n + 4}, balance = $${n + 5}, updated_at = $${n + 6}
       where tenant_id = $${n + 1} and environment_id = $${n + 2} and id = $${n + 3})`);
    n += 6;
  }
  const names = columns.map((c) => `"${c}"`).join(', ');
  const placeholders = columns.map(() => `$${++n}`).join(', ');
  text = `${ctes.length > 0 ? `with ${ctes.join(', ')} ` : ''}insert into wallet_transactions (${names}) values (${placeholders})`;
  if (appendSqlCache.size < 256) appendSqlCache.set(cacheKey, text);
  return text;
}

/**
 * Appends one ledger entry in one statement: drains the given lots (absolute credits_available), inserts the entry,
 * and writes the wallet's new balances (absolute values; omitted for a pending credit, which changes no balance).
 * The caller holds the wallet's row lock and computed every value. One statement instead of three, because on the
 * embedded engine every statement is a round trip into WebAssembly and dominates the cost of a write; its text is
 * fixed per shape, so it is built once rather than by the query builder on every write.
 */
export async function appendLedgerEntry(
  db: Executor,
  scope: Scope,
  entry: {
    row: Insertable<WalletTransactionsTable>;
    lots: Array<{ id: string; credits_available: string }>;
    balances: { credit_balance: string; balance: string; updated_at: Date } | null;
  },
) {
  const { row, lots, balances } = entry;
  const columns = Object.keys(row) as Array<keyof typeof row>;
  const parameters: unknown[] = [];
  if (lots.length > 0) parameters.push(row.created_at);
  for (const lot of lots) parameters.push(lot.id, lot.credits_available);
  if (balances) {
    parameters.push(scope.tenantId, scope.environmentId, row.wallet_id);
    parameters.push(balances.credit_balance, balances.balance, balances.updated_at);
  }
  for (const column of columns) parameters.push(row[column]);
  await db.executeQuery(CompiledQuery.raw(appendSql(columns, lots.length, balances !== null), parameters));
}

export function updateWalletTransactionById(
  db: Executor,
  scope: Scope,
  id: string,
  changes: Updateable<WalletTransactionsTable>,
) {
  return db
    .updateTable('wallet_transactions')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Lots whose expiry is before `before` that still hold credits, across every environment, oldest expiry first;
 * lots the expiry job kept are passed over until their `expiry_recheck_at`.
 */
export function listExpiredLots(
  db: Executor,
  options: { before: Date; now: Date; limit: number; scope?: Scope | undefined },
) {
  let query = db.selectFrom('wallet_transactions');
  if (options.scope) {
    query = query
      .where('tenant_id', '=', options.scope.tenantId)
      .where('environment_id', '=', options.scope.environmentId);
  }
  const now = options.now;
  return query
    .select(['id', 'tenant_id', 'environment_id', 'wallet_id'])
    .where(OPEN_LOT)
    .where('expiry_date', 'is not', null)
    .where('expiry_date', '<', options.before)
    .where((eb) => eb.or([eb('expiry_recheck_at', 'is', null), eb('expiry_recheck_at', '<=', now)]))
    .orderBy('expiry_date', 'asc')
    .orderBy('id', 'asc')
    .limit(options.limit)
    .execute();
}

/** Σ credits_available of completed lots per wallet, split into purchased and free (other reasons ignored). */
export async function sumCreditsAvailableByWalletIds(db: Executor, walletIds: string[]) {
  if (walletIds.length === 0) return new Map<string, { purchased: string; free: string }>();
  const rows = await db
    .selectFrom('wallet_transactions')
    .select((eb) => [
      'wallet_id',
      sql<string>`coalesce(sum(credits_available) filter (where transaction_reason in ('PURCHASED_CREDIT_INVOICED', 'PURCHASED_CREDIT_DIRECT')), 0)`.as(
        'purchased',
      ),
      sql<string>`coalesce(sum(credits_available) filter (where transaction_reason in ('FREE_CREDIT_GRANT', 'SUBSCRIPTION_CREDIT_GRANT')), 0)`.as(
        'free',
      ),
      eb.fn.countAll().as('lots'),
    ])
    .where('wallet_id', 'in', walletIds)
    .where(OPEN_LOT)
    .where('status', '=', 'published')
    .groupBy('wallet_id')
    .execute();
  return new Map(rows.map((r) => [r.wallet_id, { purchased: r.purchased, free: r.free }]));
}

/** The latest auto top-up entry of a wallet (metadata auto_topup = "true"). */
export function findLastAutoTopUp(db: Executor, walletId: string) {
  return db
    .selectFrom('wallet_transactions')
    .select(['id', 'transaction_status', 'created_at'])
    .where('wallet_id', '=', walletId)
    .where('type', '=', 'credit')
    .where(sql<boolean>`metadata ->> 'auto_topup' = 'true'`)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export interface WalletTransactionFilter {
  limit: number;
  offset: number;
  wallet_id?: string | undefined;
  ids?: string[] | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  type?: string | undefined;
  transaction_status?: string | undefined;
  transaction_reason?: string | undefined;
  reference_type?: string | undefined;
  reference_id?: string | undefined;
  expiry_date_before?: string | undefined;
  expiry_date_after?: string | undefined;
  credits_available_gt?: string | undefined;
  priority?: number | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
}

export async function listWalletTransactionsByFilter(db: Executor, scope: Scope, filter: WalletTransactionFilter) {
  let query = db
    .selectFrom('wallet_transactions')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId);
  query = filter.status
    ? query.where('status', '=', filter.status)
    : query.where('status', 'in', ['published', 'archived']);
  if (filter.wallet_id) query = query.where('wallet_id', '=', filter.wallet_id);
  if (filter.ids) query = query.where('id', 'in', filter.ids.length ? filter.ids : ['']);
  if (filter.type) query = query.where('type', '=', filter.type as 'credit' | 'debit');
  if (filter.transaction_status) query = query.where('transaction_status', '=', filter.transaction_status);
  if (filter.transaction_reason) query = query.where('transaction_reason', '=', filter.transaction_reason);
  if (filter.reference_type) query = query.where('reference_type', '=', filter.reference_type);
  if (filter.reference_id) query = query.where('reference_id', '=', filter.reference_id);
  if (filter.expiry_date_before) query = query.where('expiry_date', '<=', new Date(filter.expiry_date_before));
  if (filter.expiry_date_after) query = query.where('expiry_date', '>=', new Date(filter.expiry_date_after));
  if (filter.credits_available_gt !== undefined) {
    query = query.where(sql<boolean>`credits_available > ${filter.credits_available_gt}::numeric`);
  }
  if (filter.priority !== undefined) query = query.where('priority', '=', filter.priority);
  if (filter.start_time) query = query.where('created_at', '>=', new Date(filter.start_time));
  if (filter.end_time) query = query.where('created_at', '<=', new Date(filter.end_time));
  query = applyFilters(query, filter.filters, WALLET_TRANSACTION_FIELDS, 'wallet_transaction');
  const [countRow, rows] = await Promise.all([
    query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    applySort(query.selectAll(), filter.sort, filter.order, WALLET_TRANSACTION_FIELDS, 'wallet_transaction')
      .limit(filter.limit)
      .offset(filter.offset)
      .execute(),
  ]);
  return { rows, total: Number(countRow.total) };
}

// ---------------------------------------------------------------------------------------------------------------
// alert logs

export function insertWalletAlertLog(db: Executor, row: Insertable<WalletAlertLogsTable>) {
  return db.insertInto('wallet_alert_logs').values(row).execute();
}

export function listWalletAlertLogsByWalletId(db: Executor, scope: Scope, walletId: string) {
  return db
    .selectFrom('wallet_alert_logs')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('wallet_id', '=', walletId)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}
