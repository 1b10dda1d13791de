import { type TSchema, Type } from 'typebox';

/** A string enum as plain JSON Schema (`{type: string, enum}`): clear OpenAPI and one clear validation message. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** Common wire shapes. Decimals travel as strings; inputs also accept JSON numbers (parsed by the money module). */
export const DecimalString = Type.String({ description: 'decimal as a string, e.g. "12.5"', examples: ['100'] });
export const DecimalInput = Type.Union([Type.String(), Type.Number()], {
  description: 'decimal, as a string (preferred) or a number',
});
export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339 UTC timestamp' });
export const Metadata = Type.Record(Type.String(), Type.String(), { description: 'string to string map' });
export const Status = StringEnum(['published', 'archived', 'deleted']);

export const ErrorResponse = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    http_status_code: Type.Integer(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    success: Type.Boolean(),
    error: Type.Object({ message: Type.String() }),
  },
  { title: 'ErrorResponse' },
);

export const Pagination = Type.Object({
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});

export function ListOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), pagination: Pagination });
}

export const SuccessMessage = Type.Object({ message: Type.String() });

export const FilterCondition = Type.Object({
  field: Type.String({ minLength: 1 }),
  operator: StringEnum(['eq', 'contains', 'not_contains', 'gt', 'gte', 'lt', 'lte', 'in', 'not_in', 'before', 'after']),
  data_type: StringEnum(['string', 'number', 'date', 'array', 'boolean']),
  value: Type.Object({
    string: Type.Optional(Type.String()),
    number: Type.Optional(Type.Number()),
    boolean: Type.Optional(Type.Boolean()),
    date: Type.Optional(Type.String()),
    array: Type.Optional(Type.Array(Type.String())),
  }),
});

export const SortCondition = Type.Object({
  field: Type.String({ minLength: 1 }),
  direction: StringEnum(['asc', 'desc']),
});

/** Paging and ordering shared by every list (query string) and every `/search` body. */
export const PageFields = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  status: Type.Optional(Status),
  order: Type.Optional(StringEnum(['asc', 'desc'])),
  expand: Type.Optional(Type.String()),
  start_time: Type.Optional(Timestamp),
  end_time: Type.Optional(Timestamp),
};

/** The body of every `POST /<resource>/search`. */
export const SearchFields = {
  ...PageFields,
  filters: Type.Optional(Type.Array(FilterCondition, { maxItems: 50 })),
  sort: Type.Optional(Type.Array(SortCondition, { maxItems: 10 })),
};

/** The query string of every list `GET`: `sort` is one field name there. */
export const ListQueryFields = {
  ...PageFields,
  sort: Type.Optional(Type.String()),
};

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
