import type { AddressInfo } from 'node:net';
import { Flexprice } from '@flexprice/sdk';
import { FlexPriceError } from '@flexprice/sdk/sdk/models/flex-price-error.js';
import { type Harness, startHarness } from './harness.ts';

// sdk-notes quirk 2: the SDK can leave an unobserved rejected promise behind; the awaiting test reports the error.
process.on('unhandledRejection', () => {});

export { FlexPriceError };

/** A harness listening on a real port, and the official client for any key of it. */
export interface SdkServer {
  h: Harness;
  sdkFor(tenant: { apiKey: string }): Flexprice;
}

export async function startSdkServer(): Promise<SdkServer> {
  const h = await startHarness();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/v1`;
  return { h, sdkFor: (tenant) => new Flexprice({ serverURL: baseUrl, apiKeyAuth: tenant.apiKey }) };
}
