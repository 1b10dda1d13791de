import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SdkServer, startSdkServer } from '../support/sdk.ts';

/** The official `@flexprice/sdk` against invoices and payments: every call parses Tally's answers. */
let server: SdkServer;
before(async () => {
  server = await startSdkServer();
});
after(async () => {
  await server.h.close();
});

describe('official SDK: invoices and payments', () => {
  it('creates, finalizes, pays, reads, lists and voids invoices and payments', async () => {
    const sdk = server.sdkFor(await server.h.newTenant());
    const customer = await sdk.customers.createCustomer({ externalId: 'sdk-inv', name: 'Acme' });
    const created = await sdk.invoices.createInvoice({
      customerId: customer.id!,
      currency: 'usd',
      subtotal: '30',
      total: '30',
      amountDue: '30',
      lineItems: [
        { amount: '20', quantity: '1', displayName: 'Seat', priceType: 'FIXED' },
        { amount: '10', quantity: '100', displayName: 'Calls', priceType: 'USAGE' },
      ],
    });
    assert.equal(created.invoiceStatus, 'DRAFT');
    assert.equal(created.total, '30');
    const updated = await sdk.invoices.updateInvoice(created.id!, { metadata: { po: '7' } });
    assert.deepEqual(updated.metadata, { po: '7' });
    assert.ok((await sdk.invoices.finalizeInvoice(created.id!)).message);
    const invoice = await sdk.invoices.getInvoice(created.id!);
    assert.equal(invoice.invoiceStatus, 'FINALIZED');
    assert.match(invoice.invoiceNumber ?? '', /^INV-\d{6}-00001$/);
    assert.equal(invoice.lineItems?.length, 2);

    const pending = await sdk.payments.createPayment({
      amount: '12',
      currency: 'usd',
      destinationId: created.id!,
      destinationType: 'INVOICE',
      paymentMethodType: 'OFFLINE',
      processPayment: false,
    });
    assert.equal(pending.paymentStatus, 'PENDING');
    await sdk.payments.updatePayment(pending.id!, { metadata: { ref: 'wire' } });
    const processed = await sdk.payments.processPayment(pending.id!);
    assert.equal(processed.paymentStatus, 'SUCCEEDED');
    assert.equal((await sdk.payments.getPayment(pending.id!)).amount, '12');
    const payments = await sdk.payments.listPayments({ destinationId: created.id! });
    assert.equal(payments.items?.length, 1);
    const extra = await sdk.payments.createPayment({
      amount: '1',
      currency: 'usd',
      destinationId: created.id!,
      destinationType: 'INVOICE',
      paymentMethodType: 'OFFLINE',
      processPayment: false,
    });
    assert.ok((await sdk.payments.deletePayment(extra.id!)).message);

    const paid = await sdk.invoices.updateInvoicePaymentStatus(created.id!, { paymentStatus: 'SUCCEEDED' });
    assert.equal(paid.paymentStatus, 'SUCCEEDED');
    assert.equal(paid.amountRemaining, '0');
    const query = await sdk.invoices.queryInvoice({ customerId: customer.id!, paymentStatus: ['SUCCEEDED'] });
    assert.equal(query.items?.length, 1);
    const summary = await sdk.invoices.getCustomerInvoiceSummary(customer.id!);
    assert.equal(summary.summaries?.[0]?.totalRevenueAmount, '30');

    const stream = await sdk.invoices.getInvoicePdf(created.id!);
    const bytes = Buffer.from(await new Response(stream).arrayBuffer());
    assert.ok(bytes.toString('latin1').startsWith('%PDF'));

    const second = await sdk.invoices.createInvoice({
      customerId: customer.id!,
      currency: 'usd',
      subtotal: '5',
      total: '5',
      amountDue: '5',
      invoiceStatus: 'FINALIZED',
      lineItems: [{ amount: '5', quantity: '1' }],
    });
    // No wallet: the attempt answers 200 and leaves the invoice due.
    assert.match((await sdk.invoices.attemptInvoicePayment(second.id!)).message ?? '', /no wallet/);
    assert.ok((await sdk.invoices.voidInvoice(second.id!)).message);
    assert.equal((await sdk.invoices.getInvoice(second.id!)).invoiceStatus, 'VOIDED');
  });
});
