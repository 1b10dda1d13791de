import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../support/harness.ts';
import { FlexPriceError, type SdkServer, startSdkServer } from '../support/sdk.ts';

let h: Harness;
let sdkFor: SdkServer['sdkFor'];
before(async () => {
  ({ h, sdkFor } = await startSdkServer());
});
after(async () => {
  await h.close();
});

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
