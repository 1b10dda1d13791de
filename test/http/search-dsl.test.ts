import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertEnvelope, type Harness, nextMillisecond, startHarness, type TestTenant } from '../support/harness.ts';

/** Edges of the `/search` filter DSL (src/platform/db/query.ts), driven through POST /v1/customers/search. */

let h: Harness;
let tenant: TestTenant;
let created: Array<{ id: string; name: string; created_at: string }>;
before(async () => {
  h = await startHarness();
  tenant = await h.newTenant();
  created = [];
  for (const [externalId, name] of [
    ['dsl-1', '50% off'],
    ['dsl-2', '50x off'],
    ['dsl-3', 'snake_case'],
    ['dsl-4', 'snakeXcase'],
  ]) {
    const response = await h.request(tenant, 'POST', '/v1/customers', { external_id: externalId, name });
    assert.equal(response.statusCode, 201, response.body);
    created.push(response.json());
    // The date filters below need each customer in its own millisecond.
    await nextMillisecond();
  }
});
after(async () => {
  await h.close();
});

async function search(filter: Record<string, unknown>) {
  return h.request(tenant, 'POST', '/v1/customers/search', {
    filters: [filter],
    sort: [{ field: 'name', direction: 'asc' }],
  });
}

describe('search DSL', () => {
  it('treats % and _ in contains as literal characters, not LIKE wildcards', async () => {
    for (const [needle, expected] of [
      ['%', ['50% off']],
      ['_', ['snake_case']],
      ['\\', []],
    ] as const) {
      const response = await search({
        field: 'name',
        operator: 'contains',
        data_type: 'string',
        value: { string: needle },
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(
        response.json().items.map((c: { name: string }) => c.name),
        expected,
        `contains '${needle}'`,
      );
    }
  });

  it('answers 400, not 500, for values that do not fit a date field', async () => {
    const bad = [
      { field: 'created_at', operator: 'in', data_type: 'array', value: { array: ['nope'] } },
      { field: 'created_at', operator: 'not_in', data_type: 'array', value: { array: ['2026-01-01T00:00:00Z', 'x'] } },
      { field: 'created_at', operator: 'eq', data_type: 'number', value: { number: 5 } },
      // PostgreSQL would read these as dates of its own; the API does not
      { field: 'created_at', operator: 'gt', data_type: 'string', value: { string: 'yesterday' } },
      { field: 'updated_at', operator: 'lt', data_type: 'string', value: { string: 'now' } },
    ];
    for (const filter of bad) {
      assertEnvelope(await search(filter), 400, 'validation_error');
    }
  });

  it('matches a date field with in and with a string timestamp', async () => {
    const first = created[0]!;
    const byIn = await search({
      field: 'created_at',
      operator: 'in',
      data_type: 'array',
      value: { array: [first.created_at] },
    });
    assert.equal(byIn.statusCode, 200, byIn.body);
    assert.deepEqual(
      byIn.json().items.map((c: { id: string }) => c.id),
      [first.id],
    );
    const byString = await search({
      field: 'created_at',
      operator: 'gte',
      data_type: 'string',
      value: { string: first.created_at },
    });
    assert.equal(byString.statusCode, 200, byString.body);
    assert.equal(byString.json().pagination.total, created.length);
  });
});
