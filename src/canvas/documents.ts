// Every document the canvas sends. `npm run codegen` types them into ./generated (committed: a
// production install runs no codegen; test/canvas/documents.test.ts fails when it is stale).
import { graphql } from './generated/gql.js';

export const WORKSPACE_ROW = graphql(`
  fragment CanvasWorkspaceRow on Workspace {
    id name kind status provider model lastSampleError lastHeartbeatAt restartPending
    org { id name }
  }
`);

export const REQUEST_CARD = graphql(`
  fragment CanvasRequestCard on Request {
    id kind status title body payload note createdAt resolvedAt expiresAt createdByKind resolvedByKind
    resolvedBy { name role }
    workspace { id name }
    org { id name }
  }
`);

export const INIT = graphql(`
  query CanvasInit {
    viewer { kind role org { id name } workspace { id name kind } }
    activity(first: 1) { edges { cursor } }
    providers { name available }
  }
`);

export const ORGS = graphql(`
  query CanvasOrgs($after: String) {
    orgs(first: 100, after: $after) { edges { node { id name slug } } pageInfo { hasNextPage endCursor } }
  }
`);

export const WORKSPACES = graphql(`
  query CanvasWorkspaces($after: String) {
    workspaces(first: 50, after: $after) { edges { node { ...CanvasWorkspaceRow } } pageInfo { hasNextPage endCursor } }
  }
`);

export const PENDING_REQUESTS = graphql(`
  query CanvasPendingRequests($after: String) {
    requests(status: PENDING, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }
  }
`);

export const REQUEST_HISTORY = graphql(`
  query CanvasRequestHistory($status: RequestStatus, $after: String) {
    requests(status: $status, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }
  }
`);

export const OPERATION = graphql(`
  fragment CanvasOperation on Operation { id kind status error attempts createdAt startedAt finishedAt }
`);

export const ACTIVITY_ENTRY = graphql(`
  fragment CanvasActivityEntry on Activity { id type message data actorKind fromStatus toStatus createdAt }
`);

export const WORKSPACE_DETAIL = graphql(`
  query CanvasWorkspace($id: ID!) {
    workspace(id: $id) {
      ...CanvasWorkspaceRow
      instanceId url mcpServerPresent activeTurn runtimeVersion createdAt
      operations(first: 20) { edges { node { ...CanvasOperation } } }
      activity(first: 100) { edges { cursor node { ...CanvasActivityEntry } } }
    }
  }
`);

export const RESTART = graphql(`
  mutation CanvasRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id kind status } }
`);

export const STOP = graphql(`
  mutation CanvasStop($id: ID!) { stopWorkspace(workspaceId: $id) { id kind status } }
`);

export const DELETE = graphql(`
  mutation CanvasDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id kind status } }
`);

export const SWITCH = graphql(`
  mutation CanvasSwitch($input: SwitchProviderInput!) {
    switchProvider(input: $input) { operation { id kind status } workspace { ...CanvasWorkspaceRow } }
  }
`);

export const RESOLVE = graphql(`
  mutation CanvasResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { ...CanvasRequestCard } }
`);

export const WORKSPACE_EVENTS = graphql(`
  subscription CanvasWorkspaceEvents($after: String) {
    workspaceEvents(after: $after) { cursor status previousStatus reason at workspace { ...CanvasWorkspaceRow } }
  }
`);

export const WORKSPACE_ACTIVITY = graphql(`
  subscription CanvasWorkspaceActivity($id: ID!, $after: String) {
    workspaceActivity(workspaceId: $id, after: $after) {
      cursor
      entry { ...CanvasActivityEntry }
      workspace { ...CanvasWorkspaceRow }
      operation { ...CanvasOperation }
    }
  }
`);

export const REQUEST_EVENTS = graphql(`
  subscription CanvasRequestEvents($after: String) {
    requestEvents(after: $after) { cursor type status request { ...CanvasRequestCard } }
  }
`);

export const OPERATION_FAILURES = graphql(`
  subscription CanvasOperationFailures {
    operationFailures { at error workspace { id name } operation { id kind } }
  }
`);
