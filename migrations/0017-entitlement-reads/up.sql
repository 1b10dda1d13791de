-- The entitlements of a set of plans, subscriptions or addons (the customer entitlement read): an index on the
-- owner. The unique index on (entity, feature) covers only additive entitlements, so it cannot answer this.
CREATE INDEX entitlements_entity ON entitlements (tenant_id, environment_id, entity_type, entity_id)
  WHERE status = 'published';
