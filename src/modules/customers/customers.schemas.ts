import { Type } from 'typebox';
import { ListOf, ListQueryFields, Metadata, SearchFields, Status, Timestamp } from '../../platform/http/schemas.ts';

const addressFields = {
  address_line1: Type.Optional(Type.String({ maxLength: 255 })),
  address_line2: Type.Optional(Type.String({ maxLength: 255 })),
  address_city: Type.Optional(Type.String({ maxLength: 100 })),
  address_state: Type.Optional(Type.String({ maxLength: 100 })),
  address_postal_code: Type.Optional(Type.String({ maxLength: 20 })),
  address_country: Type.Optional(Type.String({ description: 'ISO 3166-1 alpha-2 country code' })),
};

export const CreateCustomerRequest = Type.Object({
  external_id: Type.String({ minLength: 1, maxLength: 255 }),
  name: Type.String({ minLength: 1, maxLength: 255 }),
  email: Type.Optional(Type.String({ maxLength: 255 })),
  contact: Type.Optional(Type.String({ maxLength: 20 })),
  timezone: Type.Optional(Type.String({ maxLength: 64 })),
  metadata: Type.Optional(Metadata),
  skip_onboarding_workflow: Type.Optional(Type.Boolean()),
  ...addressFields,
});

export const UpdateCustomerRequest = Type.Object({
  external_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  email: Type.Optional(Type.String({ maxLength: 255 })),
  contact: Type.Optional(Type.String({ maxLength: 20 })),
  timezone: Type.Optional(Type.String({ maxLength: 64 })),
  metadata: Type.Optional(Metadata),
  ...addressFields,
});

export const UpdateCustomerQuery = Type.Object({
  id: Type.Optional(Type.String({ minLength: 1 })),
  external_customer_id: Type.Optional(Type.String({ minLength: 1 })),
});

export const CustomerResponse = Type.Object(
  {
    id: Type.String(),
    external_id: Type.String(),
    name: Type.String(),
    email: Type.String(),
    contact: Type.String(),
    address_line1: Type.String(),
    address_line2: Type.String(),
    address_city: Type.String(),
    address_state: Type.String(),
    address_postal_code: Type.String(),
    address_country: Type.String(),
    timezone: Type.String(),
    metadata: Metadata,
    status: Status,
    tenant_id: Type.String(),
    environment_id: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: Type.String(),
    updated_by: Type.String(),
  },
  { title: 'CustomerResponse' },
);

export const customerFilterFields = {
  customer_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  external_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  external_id: Type.Optional(Type.String()),
  email: Type.Optional(Type.String()),
};

export const CustomerSearchRequest = Type.Object({
  ...SearchFields,
  ...customerFilterFields,
  metadata: Type.Optional(Metadata),
});

export const CustomerListQuery = Type.Object({
  ...ListQueryFields,
  external_id: Type.Optional(Type.String()),
  email: Type.Optional(Type.String()),
  customer_ids: Type.Optional(Type.String({ description: 'comma-separated customer ids' })),
  external_ids: Type.Optional(Type.String({ description: 'comma-separated external ids' })),
});

export const CustomerList = ListOf(CustomerResponse);

export const ExternalIdParams = Type.Object({ external_id: Type.String({ minLength: 1, maxLength: 255 }) });
