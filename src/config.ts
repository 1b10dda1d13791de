import path from 'node:path';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  logLevel: string;
  apiKey: string | undefined;
  corsOrigins: string[];
  bodyLimitBytes: number;
  databasePoolMax: number;
  /** Named statements parsed once per connection; off for a transaction-mode pooler (DATABASE_PREPARED_STATEMENTS). */
  databasePreparedStatements: boolean;
  /** An endpoint for the default environment, registered at start (WEBHOOK_URL, WEBHOOK_SECRET). */
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  /** Failed deliveries are retried for at least this long, then the message is marked failed. */
  webhookRetryHorizonHours: number;
  /** An endpoint whose every attempt failed for this long is disabled. */
  webhookDisableAfterHours: number;
  webhookConcurrencyPerEndpoint: number;
  webhookPollIntervalMs: number;
  /** false: this process only enqueues; other processes on the same PostgreSQL deliver (WEBHOOK_DELIVERY=off). */
  webhookDeliveryEnabled: boolean;
  /** Subscription invoice drafts are finalized this long after they are written (INVOICE_FINALIZATION_DELAY_SECONDS). */
  invoiceFinalizationDelaySeconds: number;
  /** Credit lots are expired this long after their expiry_date (WALLET_EXPIRY_GRACE_SECONDS; the reference's 6 h). */
  walletExpiryGraceSeconds: number;
  /** subscription.renewal.due is sent this long before a period end (SUBSCRIPTION_RENEWAL_DUE_LEAD_HOURS). */
  subscriptionRenewalDueLeadHours: number;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** Reads every setting from the environment; the README lists each of them. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: intFromEnv(env, 'PORT', 8080),
    host: env.HOST || '127.0.0.1',
    dataDir: path.resolve(env.DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    logLevel: env.LOG_LEVEL || 'info',
    apiKey: env.API_KEY || undefined,
    corsOrigins: (env.CORS_ORIGINS || '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bodyLimitBytes: intFromEnv(env, 'BODY_LIMIT_BYTES', 1024 * 1024),
    databasePoolMax: intFromEnv(env, 'DATABASE_POOL_MAX', 20),
    databasePreparedStatements: !['off', 'false', '0'].includes(
      (env.DATABASE_PREPARED_STATEMENTS || 'on').toLowerCase(),
    ),
    webhookUrl: env.WEBHOOK_URL || undefined,
    webhookSecret: env.WEBHOOK_SECRET || undefined,
    webhookRetryHorizonHours: intFromEnv(env, 'WEBHOOK_RETRY_HORIZON_HOURS', 72),
    webhookDisableAfterHours: intFromEnv(env, 'WEBHOOK_DISABLE_AFTER_HOURS', 120),
    webhookConcurrencyPerEndpoint: Math.max(1, intFromEnv(env, 'WEBHOOK_CONCURRENCY_PER_ENDPOINT', 8)),
    webhookPollIntervalMs: Math.max(10, intFromEnv(env, 'WEBHOOK_POLL_INTERVAL_MS', 100)),
    webhookDeliveryEnabled: !['off', 'false', '0'].includes((env.WEBHOOK_DELIVERY || 'on').toLowerCase()),
    invoiceFinalizationDelaySeconds: intFromEnv(env, 'INVOICE_FINALIZATION_DELAY_SECONDS', 7200),
    walletExpiryGraceSeconds: intFromEnv(env, 'WALLET_EXPIRY_GRACE_SECONDS', 21600),
    subscriptionRenewalDueLeadHours: intFromEnv(env, 'SUBSCRIPTION_RENEWAL_DUE_LEAD_HOURS', 24),
  };
}
