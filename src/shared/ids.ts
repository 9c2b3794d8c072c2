import { v7 as uuidv7 } from 'uuid';
import { parseSeqCursor } from './cursor.ts';
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
  if (typeOfId(id) !== type || (type === 'Activity') !== /_\d+$/.test(id)) {
    throw new AppError('BAD_USER_INPUT', `${field} must be a ${type} id`);
  }
  return id;
}

export const activityNodeId = (seq: bigint | number | string) => `act_${seq}`;
export const activitySeqFromNodeId = (id: string) => parseSeqCursor(expectId(id, 'Activity').slice(4), 'id');
