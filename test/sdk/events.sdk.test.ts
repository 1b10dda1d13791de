import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Flexprice } from '@flexprice/sdk';
import { FlexPriceError } from '@flexprice/sdk/sdk/models/flex-price-error.js';
import { type Harness, startHarness, type TestTenant } from '../support/harness.ts';

// sdk-notes quirk 2: the SDK can leave an unobserved rejected promise behind; the awaiting test reports the error.
process.on('unhandledRejection', () => {});

let h: Harness;
let baseUrl: string;
before(async () => {
  h = await startHarness();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/v1`;
});
after(async () => {
  await h.close();
});

function sdkFor(tenant: TestTenant): Flexprice {
  return new Flexprice({ serverURL: baseUrl, apiKeyAuth: tenant.apiKey });
}

describe('official SDK: events', () => {
  it('ingests one event and a bulk, deduplicating by event id', async () => {
    const sdk = sdkFor(await h.newTenant());
    const accepted = await sdk.events.ingestEvent({
      eventId: 'sdk-1',
      eventName: 'api_call',
      externalCustomerId: 'sdk-customer',
      timestamp: '2026-03-01T10:00:00Z',
      properties: { tokens: '12' },
    });
    assert.equal(accepted['event_id'], 'sdk-1');
    const bulk = await sdk.events.ingestEventsBulk({
      events: [
        {
          eventId: 'sdk-1',
          eventName: 'api_call',
          externalCustomerId: 'sdk-customer',
          timestamp: '2026-03-01T10:00:00Z',
          properties: { tokens: '12' },
        },
        {
          eventId: 'sdk-2',
          eventName: 'api_call',
          externalCustomerId: 'sdk-customer',
          timestamp: '2026-03-01T11:00:00Z',
          properties: { tokens: '8.5' },
        },
      ],
    });
    assert.equal(bulk['message'], 'Events accepted for processing');
    const usage = await sdk.events.getUsageStatistics({
      eventName: 'api_call',
      aggregationType: 'SUM',
      propertyName: 'tokens',
      externalCustomerId: 'sdk-customer',
      startTime: '2026-03-01T00:00:00Z',
      endTime: '2026-03-02T00:00:00Z',
      windowSize: 'HOUR',
    });
    assert.equal(usage.value, 20.5);
    assert.deepEqual(
      usage.results?.map((r) => [r.windowSize, r.value]),
      [
        ['2026-03-01T10:00:00.000Z', 12],
        ['2026-03-01T11:00:00.000Z', 8.5],
      ],
    );
  });

  it('lists raw events and gets one by id', async () => {
    const sdk = sdkFor(await h.newTenant());
    await sdk.events.ingestEvent({
      eventId: 'raw-1',
      eventName: 'storage',
      externalCustomerId: 'c',
      timestamp: '2026-03-05T00:00:00Z',
      source: 'sdk-test',
      properties: { gb: '3' },
    });
    const raw = await sdk.events.listRawEvents({
      externalCustomerId: 'c',
      startTime: '2026-03-01T00:00:00Z',
      endTime: '2026-04-01T00:00:00Z',
    });
    assert.equal(raw.totalCount, 1);
    assert.equal(raw.events?.[0]?.id, 'raw-1');
    assert.equal(raw.events?.[0]?.source, 'sdk-test');
    const one = await sdk.events.getEvent('raw-1');
    assert.equal(one.event?.eventName, 'storage');
    await assert.rejects(sdk.events.getEvent('missing'), (error: unknown) => {
      assert.ok(error instanceof FlexPriceError);
      assert.equal((error as FlexPriceError).statusCode, 404);
      return true;
    });
  });

  it('surfaces a 400 for a malformed usage request', async () => {
    const sdk = sdkFor(await h.newTenant());
    await assert.rejects(
      sdk.events.getUsageStatistics({ eventName: 'x', aggregationType: 'SUM' }),
      (error: unknown) => error instanceof FlexPriceError && (error as FlexPriceError).statusCode === 400,
    );
  });
});
