-- Hourly usage rollups, maintained in the same statement that inserts the raw events (only for rows actually
-- inserted, so duplicates never count), and rebuildable from raw events with `npm run rollups:rebuild`.
-- property = '' holds the event count of the hour; a property row holds the sum and max of that property's numeric
-- values (negative values counted as 0, as the raw aggregation does).
CREATE TABLE event_rollups (
  tenant_id varchar(50) NOT NULL,
  environment_id varchar(50) NOT NULL,
  external_customer_id varchar(255) NOT NULL,
  event_name varchar(255) NOT NULL,
  property varchar(255) NOT NULL,
  hour timestamptz NOT NULL,
  events bigint NOT NULL,
  total numeric NOT NULL,
  maximum numeric,
  PRIMARY KEY (tenant_id, environment_id, external_customer_id, event_name, property, hour)
);
