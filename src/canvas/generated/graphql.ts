/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type ActivityType =
  | 'INSTANCE_ORPHAN_STOPPED'
  | 'INSTANCE_STARTED'
  | 'INSTANCE_STOPPED'
  | 'OPERATION_FAILED'
  | 'PLUGIN_RECONCILE_FIRED'
  | 'PROVIDER_SWITCHED'
  | 'PROVISION_FAILED'
  | 'PROVISION_STARTED'
  | 'REQUEST_CREATED'
  | 'REQUEST_RESOLVED'
  | 'RESTART_DEFERRED'
  | 'RESTART_SCHEDULED'
  | 'SECRET_DELETED'
  | 'SECRET_SET'
  | 'STATUS_CHANGED'
  | 'SWITCH_ROLLED_BACK'
  | 'TOKEN_CREATED'
  | 'TOKEN_REVOKED'
  | 'WORKSPACE_CREATED';

export type ActorKind =
  | 'USER'
  | 'WORKSPACE';

export type OperationKind =
  | 'DEPROVISION'
  | 'PROVISION'
  | 'RESTART'
  | 'STOP'
  | 'SWITCH_PROVIDER';

export type OperationStatus =
  | 'FAILED'
  | 'QUEUED'
  | 'ROLLED_BACK'
  | 'RUNNING'
  | 'SUCCEEDED';

export type RequestDecision =
  | 'APPROVE'
  | 'CANCEL'
  | 'COMPLETE'
  | 'REJECT';

export type RequestKind =
  | 'APPROVAL'
  | 'TASK';

export type RequestStatus =
  | 'APPROVED'
  | 'CANCELLED'
  | 'DONE'
  | 'EXPIRED'
  | 'PENDING'
  | 'REJECTED';

export type ResolveRequestInput = {
  /** APPROVE/REJECT an approval, COMPLETE a task, CANCEL either */
  decision: RequestDecision;
  note?: string | null | undefined;
  requestId: string | number;
};

export type Role =
  | 'ADMIN'
  | 'INSTANCE_ADMIN'
  | 'MEMBER'
  | 'VIEWER';

export type SwitchProviderInput = {
  provider: string;
  workspaceId: string | number;
};

export type WorkspaceKind =
  | 'PLATFORM'
  | 'STANDARD';

export type WorkspaceStatus =
  | 'DEGRADED'
  | 'FAILED'
  | 'OFFLINE'
  | 'ONLINE'
  | 'PROVISIONING'
  | 'STOPPED';

export type CanvasWorkspaceRowFragment = { id: string, name: string, kind: WorkspaceKind, status: WorkspaceStatus, provider: string, model: string | null, lastSampleError: string | null, lastHeartbeatAt: string | null, restartPending: boolean, org: { id: string, name: string } };

export type CanvasRequestCardFragment = { id: string, kind: RequestKind, status: RequestStatus, title: string, body: string | null, payload: unknown, note: string | null, createdAt: string, resolvedAt: string | null, expiresAt: string | null, createdByKind: ActorKind, resolvedByKind: ActorKind | null, resolvedBy: { name: string, role: Role } | null, workspace: { id: string, name: string } | null, org: { id: string, name: string } };

export type CanvasInitQueryVariables = Exact<{ [key: string]: never; }>;


export type CanvasInitQuery = { viewer: { kind: ActorKind, role: Role | null, org: { id: string, name: string } | null, workspace: { id: string, name: string, kind: WorkspaceKind } | null }, activity: { edges: Array<{ cursor: string }> }, providers: Array<{ name: string, available: boolean }> };

export type CanvasOrgsQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type CanvasOrgsQuery = { orgs: { edges: Array<{ node: { id: string, name: string, slug: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CanvasWorkspacesQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type CanvasWorkspacesQuery = { workspaces: { edges: Array<{ node: { id: string, name: string, kind: WorkspaceKind, status: WorkspaceStatus, provider: string, model: string | null, lastSampleError: string | null, lastHeartbeatAt: string | null, restartPending: boolean, org: { id: string, name: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CanvasPendingRequestsQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type CanvasPendingRequestsQuery = { requests: { edges: Array<{ node: { id: string, kind: RequestKind, status: RequestStatus, title: string, body: string | null, payload: unknown, note: string | null, createdAt: string, resolvedAt: string | null, expiresAt: string | null, createdByKind: ActorKind, resolvedByKind: ActorKind | null, resolvedBy: { name: string, role: Role } | null, workspace: { id: string, name: string } | null, org: { id: string, name: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CanvasRequestHistoryQueryVariables = Exact<{
  status?: RequestStatus | null | undefined;
  after?: string | null | undefined;
}>;


export type CanvasRequestHistoryQuery = { requests: { edges: Array<{ node: { id: string, kind: RequestKind, status: RequestStatus, title: string, body: string | null, payload: unknown, note: string | null, createdAt: string, resolvedAt: string | null, expiresAt: string | null, createdByKind: ActorKind, resolvedByKind: ActorKind | null, resolvedBy: { name: string, role: Role } | null, workspace: { id: string, name: string } | null, org: { id: string, name: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CanvasOperationFragment = { id: string, kind: OperationKind, status: OperationStatus, error: string | null, attempts: number, createdAt: string, startedAt: string | null, finishedAt: string | null };

export type CanvasActivityEntryFragment = { id: string, type: ActivityType, message: string, data: unknown, actorKind: ActorKind | null, fromStatus: WorkspaceStatus | null, toStatus: WorkspaceStatus | null, createdAt: string };

export type CanvasWorkspaceQueryVariables = Exact<{
  id: string | number;
}>;


export type CanvasWorkspaceQuery = { workspace: { instanceId: string | null, url: string | null, mcpServerPresent: boolean | null, activeTurn: boolean, runtimeVersion: string | null, createdAt: string, id: string, name: string, kind: WorkspaceKind, status: WorkspaceStatus, provider: string, model: string | null, lastSampleError: string | null, lastHeartbeatAt: string | null, restartPending: boolean, operations: { edges: Array<{ node: { id: string, kind: OperationKind, status: OperationStatus, error: string | null, attempts: number, createdAt: string, startedAt: string | null, finishedAt: string | null } }> }, activity: { edges: Array<{ cursor: string, node: { id: string, type: ActivityType, message: string, data: unknown, actorKind: ActorKind | null, fromStatus: WorkspaceStatus | null, toStatus: WorkspaceStatus | null, createdAt: string } }> }, org: { id: string, name: string } } | null };

export type CanvasRestartMutationVariables = Exact<{
  id: string | number;
}>;


export type CanvasRestartMutation = { restartWorkspace: { id: string, kind: OperationKind, status: OperationStatus } };

export type CanvasStopMutationVariables = Exact<{
  id: string | number;
}>;


export type CanvasStopMutation = { stopWorkspace: { id: string, kind: OperationKind, status: OperationStatus } };

export type CanvasDeleteMutationVariables = Exact<{
  id: string | number;
}>;


export type CanvasDeleteMutation = { deleteWorkspace: { id: string, kind: OperationKind, status: OperationStatus } };

export type CanvasSwitchMutationVariables = Exact<{
  input: SwitchProviderInput;
}>;


export type CanvasSwitchMutation = { switchProvider: { operation: { id: string, kind: OperationKind, status: OperationStatus }, workspace: { id: string, name: string, kind: WorkspaceKind, status: WorkspaceStatus, provider: string, model: string | null, lastSampleError: string | null, lastHeartbeatAt: string | null, restartPending: boolean, org: { id: string, name: string } } } };

export type CanvasResolveMutationVariables = Exact<{
  input: ResolveRequestInput;
}>;


export type CanvasResolveMutation = { resolveRequest: { id: string, kind: RequestKind, status: RequestStatus, title: string, body: string | null, payload: unknown, note: string | null, createdAt: string, resolvedAt: string | null, expiresAt: string | null, createdByKind: ActorKind, resolvedByKind: ActorKind | null, resolvedBy: { name: string, role: Role } | null, workspace: { id: string, name: string } | null, org: { id: string, name: string } } };

export type CanvasWorkspaceEventsSubscriptionVariables = Exact<{
  after?: string | null | undefined;
}>;


export type CanvasWorkspaceEventsSubscription = { workspaceEvents: { cursor: string, status: WorkspaceStatus, previousStatus: WorkspaceStatus | null, reason: string | null, at: string, workspace: { id: string, name: string, kind: WorkspaceKind, status: WorkspaceStatus, provider: string, model: string | null, lastSampleError: string | null, lastHeartbeatAt: string | null, restartPending: boolean, org: { id: string, name: string } } } };

export type CanvasWorkspaceActivitySubscriptionVariables = Exact<{
  id: string | number;
  after?: string | null | undefined;
}>;


export type CanvasWorkspaceActivitySubscription = { workspaceActivity: { cursor: string, entry: { id: string, type: ActivityType, message: string, data: unknown, actorKind: ActorKind | null, fromStatus: WorkspaceStatus | null, toStatus: WorkspaceStatus | null, createdAt: string }, workspace: { id: string, name: string, kind: WorkspaceKind, status: WorkspaceStatus, provider: string, model: string | null, lastSampleError: string | null, lastHeartbeatAt: string | null, restartPending: boolean, org: { id: string, name: string } }, operation: { id: string, kind: OperationKind, status: OperationStatus, error: string | null, attempts: number, createdAt: string, startedAt: string | null, finishedAt: string | null } | null } };

export type CanvasRequestEventsSubscriptionVariables = Exact<{
  after?: string | null | undefined;
}>;


export type CanvasRequestEventsSubscription = { requestEvents: { cursor: string, type: ActivityType, status: RequestStatus, request: { id: string, kind: RequestKind, status: RequestStatus, title: string, body: string | null, payload: unknown, note: string | null, createdAt: string, resolvedAt: string | null, expiresAt: string | null, createdByKind: ActorKind, resolvedByKind: ActorKind | null, resolvedBy: { name: string, role: Role } | null, workspace: { id: string, name: string } | null, org: { id: string, name: string } } } };

export type CanvasOperationFailuresSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type CanvasOperationFailuresSubscription = { operationFailures: { at: string, error: string, workspace: { id: string, name: string }, operation: { id: string, kind: OperationKind } | null } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const CanvasWorkspaceRowFragmentDoc = new TypedDocumentString(`
    fragment CanvasWorkspaceRow on Workspace {
  id
  name
  kind
  status
  provider
  model
  lastSampleError
  lastHeartbeatAt
  restartPending
  org {
    id
    name
  }
}
    `, {"fragmentName":"CanvasWorkspaceRow"}) as unknown as TypedDocumentString<CanvasWorkspaceRowFragment, unknown>;
export const CanvasRequestCardFragmentDoc = new TypedDocumentString(`
    fragment CanvasRequestCard on Request {
  id
  kind
  status
  title
  body
  payload
  note
  createdAt
  resolvedAt
  expiresAt
  createdByKind
  resolvedByKind
  resolvedBy {
    name
    role
  }
  workspace {
    id
    name
  }
  org {
    id
    name
  }
}
    `, {"fragmentName":"CanvasRequestCard"}) as unknown as TypedDocumentString<CanvasRequestCardFragment, unknown>;
export const CanvasOperationFragmentDoc = new TypedDocumentString(`
    fragment CanvasOperation on Operation {
  id
  kind
  status
  error
  attempts
  createdAt
  startedAt
  finishedAt
}
    `, {"fragmentName":"CanvasOperation"}) as unknown as TypedDocumentString<CanvasOperationFragment, unknown>;
export const CanvasActivityEntryFragmentDoc = new TypedDocumentString(`
    fragment CanvasActivityEntry on Activity {
  id
  type
  message
  data
  actorKind
  fromStatus
  toStatus
  createdAt
}
    `, {"fragmentName":"CanvasActivityEntry"}) as unknown as TypedDocumentString<CanvasActivityEntryFragment, unknown>;
export const CanvasInitDocument = new TypedDocumentString(`
    query CanvasInit {
  viewer {
    kind
    role
    org {
      id
      name
    }
    workspace {
      id
      name
      kind
    }
  }
  activity(first: 1) {
    edges {
      cursor
    }
  }
  providers {
    name
    available
  }
}
    `) as unknown as TypedDocumentString<CanvasInitQuery, CanvasInitQueryVariables>;
export const CanvasOrgsDocument = new TypedDocumentString(`
    query CanvasOrgs($after: String) {
  orgs(first: 100, after: $after) {
    edges {
      node {
        id
        name
        slug
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<CanvasOrgsQuery, CanvasOrgsQueryVariables>;
export const CanvasWorkspacesDocument = new TypedDocumentString(`
    query CanvasWorkspaces($after: String) {
  workspaces(first: 50, after: $after) {
    edges {
      node {
        ...CanvasWorkspaceRow
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment CanvasWorkspaceRow on Workspace {
  id
  name
  kind
  status
  provider
  model
  lastSampleError
  lastHeartbeatAt
  restartPending
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasWorkspacesQuery, CanvasWorkspacesQueryVariables>;
export const CanvasPendingRequestsDocument = new TypedDocumentString(`
    query CanvasPendingRequests($after: String) {
  requests(status: PENDING, first: 50, after: $after) {
    edges {
      node {
        ...CanvasRequestCard
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment CanvasRequestCard on Request {
  id
  kind
  status
  title
  body
  payload
  note
  createdAt
  resolvedAt
  expiresAt
  createdByKind
  resolvedByKind
  resolvedBy {
    name
    role
  }
  workspace {
    id
    name
  }
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasPendingRequestsQuery, CanvasPendingRequestsQueryVariables>;
export const CanvasRequestHistoryDocument = new TypedDocumentString(`
    query CanvasRequestHistory($status: RequestStatus, $after: String) {
  requests(status: $status, first: 50, after: $after) {
    edges {
      node {
        ...CanvasRequestCard
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment CanvasRequestCard on Request {
  id
  kind
  status
  title
  body
  payload
  note
  createdAt
  resolvedAt
  expiresAt
  createdByKind
  resolvedByKind
  resolvedBy {
    name
    role
  }
  workspace {
    id
    name
  }
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasRequestHistoryQuery, CanvasRequestHistoryQueryVariables>;
export const CanvasWorkspaceDocument = new TypedDocumentString(`
    query CanvasWorkspace($id: ID!) {
  workspace(id: $id) {
    ...CanvasWorkspaceRow
    instanceId
    url
    mcpServerPresent
    activeTurn
    runtimeVersion
    createdAt
    operations(first: 20) {
      edges {
        node {
          ...CanvasOperation
        }
      }
    }
    activity(first: 100) {
      edges {
        cursor
        node {
          ...CanvasActivityEntry
        }
      }
    }
  }
}
    fragment CanvasWorkspaceRow on Workspace {
  id
  name
  kind
  status
  provider
  model
  lastSampleError
  lastHeartbeatAt
  restartPending
  org {
    id
    name
  }
}
fragment CanvasOperation on Operation {
  id
  kind
  status
  error
  attempts
  createdAt
  startedAt
  finishedAt
}
fragment CanvasActivityEntry on Activity {
  id
  type
  message
  data
  actorKind
  fromStatus
  toStatus
  createdAt
}`) as unknown as TypedDocumentString<CanvasWorkspaceQuery, CanvasWorkspaceQueryVariables>;
export const CanvasRestartDocument = new TypedDocumentString(`
    mutation CanvasRestart($id: ID!) {
  restartWorkspace(workspaceId: $id) {
    id
    kind
    status
  }
}
    `) as unknown as TypedDocumentString<CanvasRestartMutation, CanvasRestartMutationVariables>;
export const CanvasStopDocument = new TypedDocumentString(`
    mutation CanvasStop($id: ID!) {
  stopWorkspace(workspaceId: $id) {
    id
    kind
    status
  }
}
    `) as unknown as TypedDocumentString<CanvasStopMutation, CanvasStopMutationVariables>;
export const CanvasDeleteDocument = new TypedDocumentString(`
    mutation CanvasDelete($id: ID!) {
  deleteWorkspace(workspaceId: $id) {
    id
    kind
    status
  }
}
    `) as unknown as TypedDocumentString<CanvasDeleteMutation, CanvasDeleteMutationVariables>;
export const CanvasSwitchDocument = new TypedDocumentString(`
    mutation CanvasSwitch($input: SwitchProviderInput!) {
  switchProvider(input: $input) {
    operation {
      id
      kind
      status
    }
    workspace {
      ...CanvasWorkspaceRow
    }
  }
}
    fragment CanvasWorkspaceRow on Workspace {
  id
  name
  kind
  status
  provider
  model
  lastSampleError
  lastHeartbeatAt
  restartPending
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasSwitchMutation, CanvasSwitchMutationVariables>;
export const CanvasResolveDocument = new TypedDocumentString(`
    mutation CanvasResolve($input: ResolveRequestInput!) {
  resolveRequest(input: $input) {
    ...CanvasRequestCard
  }
}
    fragment CanvasRequestCard on Request {
  id
  kind
  status
  title
  body
  payload
  note
  createdAt
  resolvedAt
  expiresAt
  createdByKind
  resolvedByKind
  resolvedBy {
    name
    role
  }
  workspace {
    id
    name
  }
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasResolveMutation, CanvasResolveMutationVariables>;
export const CanvasWorkspaceEventsDocument = new TypedDocumentString(`
    subscription CanvasWorkspaceEvents($after: String) {
  workspaceEvents(after: $after) {
    cursor
    status
    previousStatus
    reason
    at
    workspace {
      ...CanvasWorkspaceRow
    }
  }
}
    fragment CanvasWorkspaceRow on Workspace {
  id
  name
  kind
  status
  provider
  model
  lastSampleError
  lastHeartbeatAt
  restartPending
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasWorkspaceEventsSubscription, CanvasWorkspaceEventsSubscriptionVariables>;
export const CanvasWorkspaceActivityDocument = new TypedDocumentString(`
    subscription CanvasWorkspaceActivity($id: ID!, $after: String) {
  workspaceActivity(workspaceId: $id, after: $after) {
    cursor
    entry {
      ...CanvasActivityEntry
    }
    workspace {
      ...CanvasWorkspaceRow
    }
    operation {
      ...CanvasOperation
    }
  }
}
    fragment CanvasWorkspaceRow on Workspace {
  id
  name
  kind
  status
  provider
  model
  lastSampleError
  lastHeartbeatAt
  restartPending
  org {
    id
    name
  }
}
fragment CanvasOperation on Operation {
  id
  kind
  status
  error
  attempts
  createdAt
  startedAt
  finishedAt
}
fragment CanvasActivityEntry on Activity {
  id
  type
  message
  data
  actorKind
  fromStatus
  toStatus
  createdAt
}`) as unknown as TypedDocumentString<CanvasWorkspaceActivitySubscription, CanvasWorkspaceActivitySubscriptionVariables>;
export const CanvasRequestEventsDocument = new TypedDocumentString(`
    subscription CanvasRequestEvents($after: String) {
  requestEvents(after: $after) {
    cursor
    type
    status
    request {
      ...CanvasRequestCard
    }
  }
}
    fragment CanvasRequestCard on Request {
  id
  kind
  status
  title
  body
  payload
  note
  createdAt
  resolvedAt
  expiresAt
  createdByKind
  resolvedByKind
  resolvedBy {
    name
    role
  }
  workspace {
    id
    name
  }
  org {
    id
    name
  }
}`) as unknown as TypedDocumentString<CanvasRequestEventsSubscription, CanvasRequestEventsSubscriptionVariables>;
export const CanvasOperationFailuresDocument = new TypedDocumentString(`
    subscription CanvasOperationFailures {
  operationFailures {
    at
    error
    workspace {
      id
      name
    }
    operation {
      id
      kind
    }
  }
}
    `) as unknown as TypedDocumentString<CanvasOperationFailuresSubscription, CanvasOperationFailuresSubscriptionVariables>;