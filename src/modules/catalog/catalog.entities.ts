import type { Executor } from '../../platform/db/database.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import * as repo from './catalog.repo.ts';

/**
 * Which entity a price, entitlement or credit grant hangs on. Plans and addons live in the catalog; subscriptions
 * belong to another module, which registers its existence check here (until it does, SUBSCRIPTION is refused
 * rather than accepted unchecked).
 */
export type EntityCheck = (executor: Executor, scope: Scope, id: string) => Promise<boolean>;

export function createEntityRegistry() {
  const external = new Map<string, EntityCheck>();
  return {
    register(entityType: string, check: EntityCheck) {
      external.set(entityType, check);
    },
    /** 404 when the entity does not exist (in this environment), 400 when its type cannot carry catalog items. */
    async requireEntity(executor: Executor, scope: Scope, entityType: string, id: string): Promise<void> {
      if (!id) throw validation('entity_id is required', { entity_type: entityType });
      let exists: boolean;
      if (entityType === 'PLAN') exists = Boolean(await repo.findRowById(executor, 'plans', scope, id));
      else if (entityType === 'ADDON') exists = Boolean(await repo.findRowById(executor, 'addons', scope, id));
      else {
        const check = external.get(entityType);
        if (!check) throw validation(`entity_type ${entityType} is not supported here`, { entity_type: entityType });
        exists = await check(executor, scope, id);
      }
      if (!exists) throw notFound(entityType.toLowerCase(), { id });
    },
  };
}
export type EntityRegistry = ReturnType<typeof createEntityRegistry>;
