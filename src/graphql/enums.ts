import {
  ActivityType, ActorKind, OperationKind, OperationStatus, RequestKind, RequestStatus, Role, WorkspaceKind, WorkspaceStatus,
} from '../generated/prisma/enums.ts';
import { builder } from './builder.ts';

/** The contract's enums, straight from the data model so the two cannot drift. */
const values = <T extends Record<string, string>>(e: T) => Object.values(e) as T[keyof T][];

export const RoleEnum = builder.enumType('Role', { values: values(Role) });
export const ActorKindEnum = builder.enumType('ActorKind', { values: values(ActorKind) });
export const WorkspaceKindEnum = builder.enumType('WorkspaceKind', { values: values(WorkspaceKind) });
export const WorkspaceStatusEnum = builder.enumType('WorkspaceStatus', { values: values(WorkspaceStatus) });
export const OperationKindEnum = builder.enumType('OperationKind', { values: values(OperationKind) });
export const OperationStatusEnum = builder.enumType('OperationStatus', { values: values(OperationStatus) });
export const ActivityTypeEnum = builder.enumType('ActivityType', { values: values(ActivityType) });
export const RequestKindEnum = builder.enumType('RequestKind', { values: values(RequestKind) });
export const RequestStatusEnum = builder.enumType('RequestStatus', { values: values(RequestStatus) });
export const RequestDecisionEnum = builder.enumType('RequestDecision', { values: ['APPROVE', 'REJECT', 'COMPLETE', 'CANCEL'] as const });
