import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/** Prefixes as the reference spells them (`<prefix>_<ULID>`); one table so modules never invent their own. */
export const ID_PREFIX = {
  tenant: 'tenant',
  environment: 'env',
  secret: 'secret',
  customer: 'cust',
  wallet: 'wallet',
  walletTransaction: 'wtxn',
  walletAlert: 'walert',
  feature: 'feat',
  meter: 'meter',
  event: 'event',
  plan: 'plan',
  price: 'price',
  priceUnit: 'price_unit',
  addon: 'addon',
  entitlement: 'ent',
  creditGrant: 'cg',
  creditGrantApplication: 'cga',
  subscription: 'subs',
  subscriptionLineItem: 'subs_line',
  invoice: 'inv',
  invoiceLineItem: 'inv_line',
  payment: 'pay',
  systemEvent: 'sys_event',
  webhookEndpoint: 'whep',
  webhookMessage: 'msg',
  webhookAttempt: 'atmpt',
  job: 'job',
  subscriptionPause: 'pause',
  addonAssociation: 'addon_assoc',
  subscriptionChange: 'subsc',
  subscriptionSchedule: 'sched',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

/**
 * ulid's default source asks the kernel for fresh random bytes for every character of every id (a measurable part
 * of a short request); this one draws the same cryptographic bytes from a buffer refilled 4 KiB at a time.
 * byte / 256 is uniform over the 32 characters ulid maps it to (256 is a multiple of 32).
 */
const randomPool = Buffer.alloc(4096);
let randomOffset = randomPool.length;
function pooledRandom(): number {
  if (randomOffset >= randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  return randomPool[randomOffset++]! / 256;
}

const nextUlid = monotonicFactory(pooledRandom);

export function newId(kind: IdKind): string {
  return `${ID_PREFIX[kind]}_${nextUlid()}`;
}

/** A bare ULID, for request ids and secrets. */
export function newUlid(): string {
  return nextUlid();
}
