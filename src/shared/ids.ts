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

const PREFIXED = /^([a-z]+)_([0-9a-z]+)$/;
const UUID_HEX = /^[0-9a-f]{32}$/;
const SEQ = /^[0-9]{1,19}$/;

/** The type an id names, or undefined when it is not a Trellis id at all. */
export function typeOfId(id: string): IdType | undefined {
  const match = PREFIXED.exec(id);
  if (!match) return undefined;
  const type = (Object.keys(ID_PREFIX) as IdType[]).find((t) => ID_PREFIX[t] === match[1]);
  if (!type) return undefined;
  return (type === 'Activity' ? SEQ : UUID_HEX).test(match[2]!) ? type : undefined;
}

/** Checks that `id` names a `type`; a malformed id or one of another type is bad input. */
export function expectId(id: string, type: IdType, field = 'id'): string {
  if (typeOfId(id) !== type) throw new AppError('BAD_USER_INPUT', `${field} must be a ${type} id`);
  return id;
}

export const activityNodeId = (seq: bigint | number | string) => `act_${seq}`;
export const activitySeqFromNodeId = (id: string) => parseSeqCursor(expectId(id, 'Activity').slice(4), 'id');
