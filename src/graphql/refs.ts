import type { Operation, Org, Request, Workspace } from '../generated/prisma/client.ts';
import type { ActivityView } from '../activity/view.ts';
import { builder } from './builder.ts';

/**
 * Object refs shared across feature folders, declared here (and implemented in each feature's
 * schema.ts) so features can point at each other's types without import cycles.
 */
export const OrgRef = builder.objectRef<Org>('Org');
export const WorkspaceRef = builder.objectRef<Workspace>('Workspace');
export const OperationRef = builder.objectRef<Operation>('Operation');
export const ActivityRef = builder.objectRef<ActivityView>('Activity');
export const RequestRef = builder.objectRef<Request>('Request');
