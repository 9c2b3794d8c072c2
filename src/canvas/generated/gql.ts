/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment CanvasWorkspaceRow on Workspace {\n    id name kind status provider model lastSampleError lastHeartbeatAt restartPending\n    org { id name }\n  }\n": typeof types.CanvasWorkspaceRowFragmentDoc,
    "\n  fragment CanvasRequestCard on Request {\n    id kind status title body payload note createdAt resolvedAt expiresAt createdByKind resolvedByKind\n    resolvedBy { name role }\n    workspace { id name }\n    org { id name }\n  }\n": typeof types.CanvasRequestCardFragmentDoc,
    "\n  query CanvasInit {\n    viewer { kind role org { id name } workspace { id name kind } }\n    activity(first: 1) { edges { cursor } }\n    providers { name available }\n  }\n": typeof types.CanvasInitDocument,
    "\n  query CanvasOrgs($after: String) {\n    orgs(first: 100, after: $after) { edges { node { id name slug } } pageInfo { hasNextPage endCursor } }\n  }\n": typeof types.CanvasOrgsDocument,
    "\n  query CanvasWorkspaces($after: String) {\n    workspaces(first: 50, after: $after) { edges { node { ...CanvasWorkspaceRow } } pageInfo { hasNextPage endCursor } }\n  }\n": typeof types.CanvasWorkspacesDocument,
    "\n  query CanvasPendingRequests($after: String) {\n    requests(status: PENDING, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }\n  }\n": typeof types.CanvasPendingRequestsDocument,
    "\n  query CanvasRequestHistory($status: RequestStatus, $after: String) {\n    requests(status: $status, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }\n  }\n": typeof types.CanvasRequestHistoryDocument,
    "\n  fragment CanvasOperation on Operation { id kind status error attempts createdAt startedAt finishedAt }\n": typeof types.CanvasOperationFragmentDoc,
    "\n  fragment CanvasActivityEntry on Activity { id type message data actorKind fromStatus toStatus createdAt }\n": typeof types.CanvasActivityEntryFragmentDoc,
    "\n  query CanvasWorkspace($id: ID!) {\n    workspace(id: $id) {\n      ...CanvasWorkspaceRow\n      instanceId url mcpServerPresent activeTurn runtimeVersion createdAt\n      operations(first: 20) { edges { node { ...CanvasOperation } } }\n      activity(first: 100) { edges { cursor node { ...CanvasActivityEntry } } }\n    }\n  }\n": typeof types.CanvasWorkspaceDocument,
    "\n  mutation CanvasRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id kind status } }\n": typeof types.CanvasRestartDocument,
    "\n  mutation CanvasStop($id: ID!) { stopWorkspace(workspaceId: $id) { id kind status } }\n": typeof types.CanvasStopDocument,
    "\n  mutation CanvasDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id kind status } }\n": typeof types.CanvasDeleteDocument,
    "\n  mutation CanvasSwitch($input: SwitchProviderInput!) {\n    switchProvider(input: $input) { operation { id kind status } workspace { ...CanvasWorkspaceRow } }\n  }\n": typeof types.CanvasSwitchDocument,
    "\n  mutation CanvasResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { ...CanvasRequestCard } }\n": typeof types.CanvasResolveDocument,
    "\n  subscription CanvasWorkspaceEvents($after: String) {\n    workspaceEvents(after: $after) { cursor status previousStatus reason at workspace { ...CanvasWorkspaceRow } }\n  }\n": typeof types.CanvasWorkspaceEventsDocument,
    "\n  subscription CanvasWorkspaceActivity($id: ID!, $after: String) {\n    workspaceActivity(workspaceId: $id, after: $after) {\n      cursor\n      entry { ...CanvasActivityEntry }\n      workspace { ...CanvasWorkspaceRow }\n      operation { ...CanvasOperation }\n    }\n  }\n": typeof types.CanvasWorkspaceActivityDocument,
    "\n  subscription CanvasRequestEvents($after: String) {\n    requestEvents(after: $after) { cursor type status request { ...CanvasRequestCard } }\n  }\n": typeof types.CanvasRequestEventsDocument,
    "\n  subscription CanvasOperationFailures {\n    operationFailures { at error workspace { id name } operation { id kind } }\n  }\n": typeof types.CanvasOperationFailuresDocument,
};
const documents: Documents = {
    "\n  fragment CanvasWorkspaceRow on Workspace {\n    id name kind status provider model lastSampleError lastHeartbeatAt restartPending\n    org { id name }\n  }\n": types.CanvasWorkspaceRowFragmentDoc,
    "\n  fragment CanvasRequestCard on Request {\n    id kind status title body payload note createdAt resolvedAt expiresAt createdByKind resolvedByKind\n    resolvedBy { name role }\n    workspace { id name }\n    org { id name }\n  }\n": types.CanvasRequestCardFragmentDoc,
    "\n  query CanvasInit {\n    viewer { kind role org { id name } workspace { id name kind } }\n    activity(first: 1) { edges { cursor } }\n    providers { name available }\n  }\n": types.CanvasInitDocument,
    "\n  query CanvasOrgs($after: String) {\n    orgs(first: 100, after: $after) { edges { node { id name slug } } pageInfo { hasNextPage endCursor } }\n  }\n": types.CanvasOrgsDocument,
    "\n  query CanvasWorkspaces($after: String) {\n    workspaces(first: 50, after: $after) { edges { node { ...CanvasWorkspaceRow } } pageInfo { hasNextPage endCursor } }\n  }\n": types.CanvasWorkspacesDocument,
    "\n  query CanvasPendingRequests($after: String) {\n    requests(status: PENDING, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }\n  }\n": types.CanvasPendingRequestsDocument,
    "\n  query CanvasRequestHistory($status: RequestStatus, $after: String) {\n    requests(status: $status, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }\n  }\n": types.CanvasRequestHistoryDocument,
    "\n  fragment CanvasOperation on Operation { id kind status error attempts createdAt startedAt finishedAt }\n": types.CanvasOperationFragmentDoc,
    "\n  fragment CanvasActivityEntry on Activity { id type message data actorKind fromStatus toStatus createdAt }\n": types.CanvasActivityEntryFragmentDoc,
    "\n  query CanvasWorkspace($id: ID!) {\n    workspace(id: $id) {\n      ...CanvasWorkspaceRow\n      instanceId url mcpServerPresent activeTurn runtimeVersion createdAt\n      operations(first: 20) { edges { node { ...CanvasOperation } } }\n      activity(first: 100) { edges { cursor node { ...CanvasActivityEntry } } }\n    }\n  }\n": types.CanvasWorkspaceDocument,
    "\n  mutation CanvasRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id kind status } }\n": types.CanvasRestartDocument,
    "\n  mutation CanvasStop($id: ID!) { stopWorkspace(workspaceId: $id) { id kind status } }\n": types.CanvasStopDocument,
    "\n  mutation CanvasDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id kind status } }\n": types.CanvasDeleteDocument,
    "\n  mutation CanvasSwitch($input: SwitchProviderInput!) {\n    switchProvider(input: $input) { operation { id kind status } workspace { ...CanvasWorkspaceRow } }\n  }\n": types.CanvasSwitchDocument,
    "\n  mutation CanvasResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { ...CanvasRequestCard } }\n": types.CanvasResolveDocument,
    "\n  subscription CanvasWorkspaceEvents($after: String) {\n    workspaceEvents(after: $after) { cursor status previousStatus reason at workspace { ...CanvasWorkspaceRow } }\n  }\n": types.CanvasWorkspaceEventsDocument,
    "\n  subscription CanvasWorkspaceActivity($id: ID!, $after: String) {\n    workspaceActivity(workspaceId: $id, after: $after) {\n      cursor\n      entry { ...CanvasActivityEntry }\n      workspace { ...CanvasWorkspaceRow }\n      operation { ...CanvasOperation }\n    }\n  }\n": types.CanvasWorkspaceActivityDocument,
    "\n  subscription CanvasRequestEvents($after: String) {\n    requestEvents(after: $after) { cursor type status request { ...CanvasRequestCard } }\n  }\n": types.CanvasRequestEventsDocument,
    "\n  subscription CanvasOperationFailures {\n    operationFailures { at error workspace { id name } operation { id kind } }\n  }\n": types.CanvasOperationFailuresDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CanvasWorkspaceRow on Workspace {\n    id name kind status provider model lastSampleError lastHeartbeatAt restartPending\n    org { id name }\n  }\n"): typeof import('./graphql.js').CanvasWorkspaceRowFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CanvasRequestCard on Request {\n    id kind status title body payload note createdAt resolvedAt expiresAt createdByKind resolvedByKind\n    resolvedBy { name role }\n    workspace { id name }\n    org { id name }\n  }\n"): typeof import('./graphql.js').CanvasRequestCardFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CanvasInit {\n    viewer { kind role org { id name } workspace { id name kind } }\n    activity(first: 1) { edges { cursor } }\n    providers { name available }\n  }\n"): typeof import('./graphql.js').CanvasInitDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CanvasOrgs($after: String) {\n    orgs(first: 100, after: $after) { edges { node { id name slug } } pageInfo { hasNextPage endCursor } }\n  }\n"): typeof import('./graphql.js').CanvasOrgsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CanvasWorkspaces($after: String) {\n    workspaces(first: 50, after: $after) { edges { node { ...CanvasWorkspaceRow } } pageInfo { hasNextPage endCursor } }\n  }\n"): typeof import('./graphql.js').CanvasWorkspacesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CanvasPendingRequests($after: String) {\n    requests(status: PENDING, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }\n  }\n"): typeof import('./graphql.js').CanvasPendingRequestsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CanvasRequestHistory($status: RequestStatus, $after: String) {\n    requests(status: $status, first: 50, after: $after) { edges { node { ...CanvasRequestCard } } pageInfo { hasNextPage endCursor } }\n  }\n"): typeof import('./graphql.js').CanvasRequestHistoryDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CanvasOperation on Operation { id kind status error attempts createdAt startedAt finishedAt }\n"): typeof import('./graphql.js').CanvasOperationFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CanvasActivityEntry on Activity { id type message data actorKind fromStatus toStatus createdAt }\n"): typeof import('./graphql.js').CanvasActivityEntryFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CanvasWorkspace($id: ID!) {\n    workspace(id: $id) {\n      ...CanvasWorkspaceRow\n      instanceId url mcpServerPresent activeTurn runtimeVersion createdAt\n      operations(first: 20) { edges { node { ...CanvasOperation } } }\n      activity(first: 100) { edges { cursor node { ...CanvasActivityEntry } } }\n    }\n  }\n"): typeof import('./graphql.js').CanvasWorkspaceDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CanvasRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id kind status } }\n"): typeof import('./graphql.js').CanvasRestartDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CanvasStop($id: ID!) { stopWorkspace(workspaceId: $id) { id kind status } }\n"): typeof import('./graphql.js').CanvasStopDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CanvasDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id kind status } }\n"): typeof import('./graphql.js').CanvasDeleteDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CanvasSwitch($input: SwitchProviderInput!) {\n    switchProvider(input: $input) { operation { id kind status } workspace { ...CanvasWorkspaceRow } }\n  }\n"): typeof import('./graphql.js').CanvasSwitchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CanvasResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { ...CanvasRequestCard } }\n"): typeof import('./graphql.js').CanvasResolveDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CanvasWorkspaceEvents($after: String) {\n    workspaceEvents(after: $after) { cursor status previousStatus reason at workspace { ...CanvasWorkspaceRow } }\n  }\n"): typeof import('./graphql.js').CanvasWorkspaceEventsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CanvasWorkspaceActivity($id: ID!, $after: String) {\n    workspaceActivity(workspaceId: $id, after: $after) {\n      cursor\n      entry { ...CanvasActivityEntry }\n      workspace { ...CanvasWorkspaceRow }\n      operation { ...CanvasOperation }\n    }\n  }\n"): typeof import('./graphql.js').CanvasWorkspaceActivityDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CanvasRequestEvents($after: String) {\n    requestEvents(after: $after) { cursor type status request { ...CanvasRequestCard } }\n  }\n"): typeof import('./graphql.js').CanvasRequestEventsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CanvasOperationFailures {\n    operationFailures { at error workspace { id name } operation { id kind } }\n  }\n"): typeof import('./graphql.js').CanvasOperationFailuresDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
