/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

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
    "subscription ExternalEvents($id: ID, $after: String) {\n  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status reason workspace { id status } }\n}": typeof types.ExternalEventsDocument,
    "mutation FixtureCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }": typeof types.FixtureCreateOrgDocument,
    "mutation FixtureCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }": typeof types.FixtureCreateTokenDocument,
    "mutation FixtureCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }": typeof types.FixtureCreateWorkspaceDocument,
    "mutation FixtureIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }": typeof types.FixtureIssueTokenDocument,
    "mutation FixtureRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }": typeof types.FixtureRegisterDocument,
    "mutation FixtureHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }": typeof types.FixtureHeartbeatDocument,
};
const documents: Documents = {
    "subscription ExternalEvents($id: ID, $after: String) {\n  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status reason workspace { id status } }\n}": types.ExternalEventsDocument,
    "mutation FixtureCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }": types.FixtureCreateOrgDocument,
    "mutation FixtureCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }": types.FixtureCreateTokenDocument,
    "mutation FixtureCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }": types.FixtureCreateWorkspaceDocument,
    "mutation FixtureIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }": types.FixtureIssueTokenDocument,
    "mutation FixtureRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }": types.FixtureRegisterDocument,
    "mutation FixtureHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }": types.FixtureHeartbeatDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription ExternalEvents($id: ID, $after: String) {\n  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status reason workspace { id status } }\n}"): (typeof documents)["subscription ExternalEvents($id: ID, $after: String) {\n  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status reason workspace { id status } }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation FixtureCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }"): (typeof documents)["mutation FixtureCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation FixtureCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }"): (typeof documents)["mutation FixtureCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation FixtureCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }"): (typeof documents)["mutation FixtureCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation FixtureIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }"): (typeof documents)["mutation FixtureIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation FixtureRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }"): (typeof documents)["mutation FixtureRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation FixtureHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }"): (typeof documents)["mutation FixtureHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;