-- Background jobs: credit expiry skip rules, overdue invoice and renewal-due notifications.

-- A lot past its expiry that the expiry job kept (an unpaid invoice of its period, or billing lagging) is looked at
-- again from this instant on; until then the job passes over it, so kept lots never hold up a batch.
ALTER TABLE wallet_transactions ADD COLUMN expiry_recheck_at timestamptz;

-- invoice.payment.overdue is emitted once per invoice: the transaction that emits it sets this.
ALTER TABLE invoices ADD COLUMN overdue_notified_at timestamptz;
CREATE INDEX invoices_overdue_candidates ON invoices (due_date)
  WHERE invoice_status = 'FINALIZED' AND overdue_notified_at IS NULL AND due_date IS NOT NULL
    AND amount_remaining > 0;

-- subscription.renewal.due is emitted once per period: the period end it was emitted for.
ALTER TABLE subscriptions ADD COLUMN renewal_due_notified_for timestamptz;
CREATE INDEX subscriptions_renewal_due ON subscriptions (current_period_end)
  WHERE status = 'published' AND subscription_status IN ('active', 'trialing');
