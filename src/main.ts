import { backgroundTasks, buildApp } from './app.ts';
import { staleStatisticsTask } from './platform/db/statistics.ts';
import { loadConfig } from './config.ts';
import { createBackgroundRunner } from './platform/background/runner.ts';
import { systemClock } from './platform/clock.ts';
import { openDatabase } from './platform/db/database.ts';
import { DataDirLockedError } from './platform/db/lock-file.ts';
import { migrateToLatest } from './platform/db/migrate.ts';
import { DEFAULT_RETRY_POLICY } from './modules/webhooks/retry-schedule.ts';

/** Composition root: config → database (+ migrations) → bootstrap → HTTP; graceful stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig();
  let database: Awaited<ReturnType<typeof openDatabase>>;
  try {
    database = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolMax: config.databasePoolMax,
      preparedStatements: config.databasePreparedStatements,
    });
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      process.stderr.write(`tally: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  await migrateToLatest(database.db);

  const { app, services } = await buildApp({
    database,
    clock: systemClock,
    logger: {
      level: config.logLevel,
      redact: ['req.headers["x-api-key"]', 'req.headers.authorization'],
    },
    bodyLimitBytes: config.bodyLimitBytes,
    corsOrigins: config.corsOrigins,
    webhooks: {
      delivery: {
        retry: { ...DEFAULT_RETRY_POLICY, horizonMs: config.webhookRetryHorizonHours * 3_600_000 },
        disableAfterMs: config.webhookDisableAfterHours * 3_600_000,
        perEndpointConcurrency: config.webhookConcurrencyPerEndpoint,
        pollIntervalMs: config.webhookPollIntervalMs,
      },
    },
  });

  const { createdKey, tenantId, environmentId } = await services.tenancy.bootstrap({ apiKey: config.apiKey });
  if (createdKey) {
    // Printed once, on the first start only; it is stored hashed and never logged.
    process.stdout.write(
      `\n  Tally created the default tenant and environment (${environmentId}).\n` +
        `  API key (shown once, keep it): ${createdKey}\n` +
        `  Try: curl -H 'x-api-key: ${createdKey}' http://${config.host}:${config.port}/v1/customers\n\n`,
    );
  }

  if (config.webhookUrl) {
    const { endpoint, generatedSecret } = await services.webhooks.ensureConfiguredEndpoint(
      { tenantId, environmentId },
      { url: config.webhookUrl, secret: config.webhookSecret },
    );
    if (generatedSecret) {
      // Printed once, when the endpoint is first registered; set WEBHOOK_SECRET to choose it yourself.
      process.stdout.write(
        `\n  Tally registered WEBHOOK_URL as webhook endpoint ${endpoint.id}.\n` +
          `  Signing secret (shown once, keep it): ${generatedSecret}\n\n`,
      );
    }
  }

  const tasks = backgroundTasks(services, {
    invoiceFinalizationDelaySeconds: config.invoiceFinalizationDelaySeconds,
    walletExpiryGraceSeconds: config.walletExpiryGraceSeconds,
    renewalDueLeadHours: config.subscriptionRenewalDueLeadHours,
  }).filter((task) => config.webhookDeliveryEnabled || task !== services.webhooks.delivery.task);
  // PGlite has no autovacuum: vacuum and analyze changed tables (PostgreSQL does this itself).
  if (database.engine === 'pglite') tasks.push(staleStatisticsTask(database.db));
  const background = createBackgroundRunner(tasks, app.log);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'stopping: finishing in-flight requests');
    try {
      await app.close();
      await background.stop();
      await database.close();
      process.exit(0);
    } catch (error) {
      app.log.error({ err: error }, 'error while stopping');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  background.start();
  app.log.info(
    { engine: database.engine, data_dir: config.databaseUrl ? undefined : config.dataDir },
    `tally listening on http://${config.host}:${config.port}`,
  );
}

main().catch((error) => {
  process.stderr.write(`tally: failed to start: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
