-- A wallet's open credit lots in drain order, read through the open-lot index in its order whatever the planner
-- statistics say (see notes.md): sorting is what the two settings rule out.
CREATE FUNCTION wallet_open_lots(p_wallet_id text, p_eligible_at timestamptz, p_limit integer, p_offset integer)
RETURNS TABLE (id varchar, priority integer, expiry_date timestamptz, credit_amount numeric, credits_available numeric)
LANGUAGE sql STABLE
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
  SELECT t.id, t.priority, t.expiry_date, t.credit_amount, t.credits_available
    FROM wallet_transactions t
   WHERE t.wallet_id = p_wallet_id AND t.type = 'credit' AND t.transaction_status = 'completed' AND t.lot_open
     AND (p_eligible_at IS NULL OR t.expiry_date IS NULL OR t.expiry_date >= p_eligible_at)
   ORDER BY t.priority ASC NULLS LAST, t.expiry_date ASC NULLS LAST, t.credit_amount DESC, t.id ASC
   LIMIT p_limit OFFSET p_offset
$$;
