-- Pauses with a start and an end (scheduled pauses, automatic resume).

-- The billing job reads the pauses of a subscription for every period it invoices.
CREATE INDEX subscription_pauses_span ON subscription_pauses (subscription_id, pause_start);
