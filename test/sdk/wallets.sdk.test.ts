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

describe('official SDK: wallets', () => {
  it('covers every wallet operation the SDK exposes', async () => {
    const tenant = await h.newTenant();
    const sdk = sdkFor(tenant);
    const customer = await sdk.customers.createCustomer({ externalId: 'sdk-wallet-customer', name: 'SDK' });
    assert.ok(customer.id);

    const wallet = await sdk.wallets.createWallet({
      customerId: customer.id as string,
      currency: 'usd',
      conversionRate: '2',
      initialCreditsToLoad: '10',
      alertSettings: { critical: { threshold: 1, condition: 'below' }, alertEnabled: true },
      autoTopup: { enabled: false, threshold: 2, amount: 5, invoicing: false },
      metadata: { source: 'sdk' },
    });
    assert.equal(wallet.creditBalance, '10');
    assert.equal(wallet.balance, '20');
    assert.equal(wallet.walletStatus, 'active');
    assert.equal(wallet.walletType, 'PRE_PAID');
    assert.equal(wallet.autoTopup?.amount, 5);
    const walletId = wallet.id as string;

    const topUp = await sdk.wallets.topUpWallet(walletId, {
      creditsToAdd: '5',
      transactionReason: 'PURCHASED_CREDIT_DIRECT',
      idempotencyKey: 'sdk-top-up',
      priority: 1,
      expiryDateUtc: '2099-01-01T00:00:00Z',
    });
    assert.equal(topUp.walletTransaction?.creditAmount, '5');
    assert.equal(topUp.walletTransaction?.priority, 1);
    assert.equal(topUp.wallet?.creditBalance, '15');

    const fetched = await sdk.wallets.getWallet(walletId);
    assert.equal(fetched.creditBalance, '15');
    assert.equal(fetched.alertSettings?.critical?.threshold, 1);

    const updated = await sdk.wallets.updateWallet(walletId, { name: 'Renamed', metadata: { source: 'sdk-2' } });
    assert.equal(updated.name, 'Renamed');

    const balance = await sdk.wallets.getWalletBalance(walletId, 'credits_available_breakdown');
    assert.equal(balance.realTimeBalance, '30');
    assert.equal(balance.realTimeCreditBalance, '15');
    assert.equal(balance.currentPeriodUsage, '0');
    assert.deepEqual(balance.creditsAvailableBreakdown, { purchased: '5', free: '10' });

    const byCustomer = await sdk.wallets.getWalletsByCustomerId(customer.id as string);
    assert.deepEqual(
      byCustomer.map((w) => w.id),
      [walletId],
    );
    const customerWallets = await sdk.wallets.getCustomerWallets({
      lookupKey: 'sdk-wallet-customer',
      includeRealTimeBalance: true,
    });
    assert.equal(customerWallets.length, 1);
    assert.equal(customerWallets[0]?.id, walletId);

    const transactions = await sdk.wallets.getWalletTransactions({ idPathParameter: walletId, type: 'credit' });
    assert.equal(transactions.items?.length, 2);
    assert.equal(transactions.pagination?.total, 2);

    const searched = await sdk.wallets.queryWalletTransaction({ id: walletId, transactionReason: 'FREE_CREDIT_GRANT' });
    assert.equal(searched.items?.length, 1);
    assert.equal(searched.items?.[0]?.creditsAvailable, '10');

    const wallets = await sdk.wallets.queryWallet({ status: 'active', limit: 10 });
    assert.equal(wallets.items?.length, 1);
    assert.equal(wallets.pagination?.total, 1);

    const terminated = await sdk.wallets.terminateWallet(walletId);
    assert.equal(terminated.walletStatus, 'closed');
    assert.equal((await sdk.wallets.getWallet(walletId)).creditBalance, '0');
  });

  it('surfaces 404 and 400 as typed SDK errors', async () => {
    const sdk = sdkFor(await h.newTenant());
    await assert.rejects(sdk.wallets.getWallet('wallet_missing'), (e: unknown) => {
      assert.ok(e instanceof FlexPriceError);
      assert.equal(e.statusCode, 404);
      return true;
    });
    await assert.rejects(
      sdk.wallets.topUpWallet('wallet_missing', { creditsToAdd: '1', transactionReason: 'FREE_CREDIT_GRANT' }),
      (e: unknown) => e instanceof FlexPriceError && e.statusCode === 404,
    );
    await assert.rejects(
      sdk.wallets.createWallet({ currency: 'usd' }),
      (e: unknown) => e instanceof FlexPriceError && e.statusCode === 400,
    );
  });
});
