import { v7 as uuidv7 } from 'uuid';
import { AppError } from './errors.ts';

/**
 * Ids are `<prefix>_<uuidv7 hex>`: time-ordered (so an id is also a stable keyset cursor), and
 * self-describing (so `node(id)` and error messages know the type without a lookup).
 */
export const ID_PREFIX = {
  Org: 'org',
  ApiToken: 'tok',
  Workspace: 'ws',
  WorkspaceToken: 'wtk',
  DeclaredPlugin: 'plg',
  Secret: 'sec',
  Request: 'req',
  Operation: 'op',
  Activity: 'act',
} as const;
export type IdType = keyof typeof ID_PREFIX;

export function newId(type: IdType): string {
  return `${ID_PREFIX[type]}_${uuidv7().replaceAll('-', '')}`;
}

const SHAPE = /^([a-z]+)_([0-9a-f]{32}|[0-9]{1,19})$/;

export function typeOfId(id: string): IdType | undefined {
  const match = SHAPE.exec(id);
  if (!match) return undefined;
  return (Object.keys(ID_PREFIX) as IdType[]).find((t) => ID_PREFIX[t] === match[1]);
}

/** Checks that `id` names a `type`; a malformed id or one of another type is bad input. */
export function expectId(id: string, type: IdType, field = 'id'): string {
  // Activity ids are `act_<n>`; every other id is `<prefix>_<32 hex>` (which may be all digits).
  const shaped = type === 'Activity' ? /^[a-z]+_\d{1,19}$/.test(id) : /^[a-z]+_[0-9a-f]{32}$/.test(id);
  if (typeOfId(id) !== type || !shaped) {
    throw new AppError('BAD_USER_INPUT', `${field} must be a ${type} id`);
  }
  return id;
}

export const activityNodeId = (seq: bigint | number | string) => `act_${seq}`;
export const activitySeqFromNodeId = (id: string) => BigInt(expectId(id, 'Activity').slice(4));
