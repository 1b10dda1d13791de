-- Draining a credit lot (the one column of a ledger entry ever updated) becomes a HOT update.
--
-- The open-lot partial indexes had credits_available in their predicate, so every drain of a lot was a non-HOT
-- update: a new tuple version elsewhere and a new entry in each of the table's six indexes. That condition is now a
-- stored generated column, which changes only when a lot opens or closes; a drain that leaves a lot open updates no
-- indexed column. Type and status stay in the predicates (never changed by a drain): without statistics, their
-- default selectivity keeps the planner reading a wallet's lots in index order. Pages keep 10% free so that the new
-- version fits beside the old one.
ALTER TABLE wallet_transactions
  ADD COLUMN lot_open boolean NOT NULL
    GENERATED ALWAYS AS (type = 'credit' AND transaction_status = 'completed' AND credits_available > 0) STORED;

DROP INDEX wallet_transactions_open_lots;
CREATE INDEX wallet_transactions_open_lots
  ON wallet_transactions (wallet_id, priority ASC NULLS LAST, expiry_date ASC NULLS LAST, credit_amount DESC, id)
  WHERE type = 'credit' AND transaction_status = 'completed' AND lot_open;
DROP INDEX wallet_transactions_expiring;
CREATE INDEX wallet_transactions_expiring ON wallet_transactions (expiry_date)
  WHERE type = 'credit' AND transaction_status = 'completed' AND lot_open AND expiry_date IS NOT NULL;

ALTER TABLE wallet_transactions SET (fillfactor = 90);
