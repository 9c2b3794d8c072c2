/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
export type CreateApiTokenInput = {
  label?: string | null | undefined;
  /** Defaults to the caller’s org; required when the instance admin makes an org token */
  orgId?: string | number | null | undefined;
  role: Role;
};

export type CreateOrgInput = {
  name: string;
  slug: string;
};

export type CreateWorkspaceInput = {
  declaredPlugins?: Array<PluginInput> | null | undefined;
  kind?: WorkspaceKind | null | undefined;
  model?: string | null | undefined;
  name: string;
  /** Defaults to the caller’s org; required for the instance admin */
  orgId?: string | number | null | undefined;
  provider?: string | null | undefined;
};

export type HeartbeatInput = {
  activeTurn: boolean;
  error?: string | null | undefined;
  loadedMcpTools?: Array<string> | null | undefined;
  mcpServerPresent: boolean;
  /** Omit to keep the model last reported; an empty string reports none */
  model?: string | null | undefined;
};

export type PluginInput = {
  name: string;
  source: string;
};

export type RegisterInput = {
  instanceId?: string | null | undefined;
  loadedMcpTools?: Array<string> | null | undefined;
  mcpServerPresent: boolean;
  model?: string | null | undefined;
  runtimeVersion?: string | null | undefined;
  url?: string | null | undefined;
};

export type Role =
  | 'ADMIN'
  | 'INSTANCE_ADMIN'
  | 'MEMBER'
  | 'VIEWER';

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

export type ExternalEventsSubscriptionVariables = Exact<{
  id?: string | number | null | undefined;
  after?: string | null | undefined;
}>;


export type ExternalEventsSubscription = { workspaceEvents: { cursor: string, previousStatus: WorkspaceStatus | null, status: WorkspaceStatus, reason: string | null, workspace: { id: string, status: WorkspaceStatus } } };

export type FixtureCreateOrgMutationVariables = Exact<{
  input: CreateOrgInput;
}>;


export type FixtureCreateOrgMutation = { createOrg: { id: string } };

export type FixtureCreateTokenMutationVariables = Exact<{
  input: CreateApiTokenInput;
}>;


export type FixtureCreateTokenMutation = { createApiToken: { token: string } };

export type FixtureCreateWorkspaceMutationVariables = Exact<{
  input: CreateWorkspaceInput;
}>;


export type FixtureCreateWorkspaceMutation = { createWorkspace: { id: string } };

export type FixtureIssueTokenMutationVariables = Exact<{
  id: string | number;
}>;


export type FixtureIssueTokenMutation = { issueWorkspaceToken: { token: string } };

export type FixtureRegisterMutationVariables = Exact<{
  input: RegisterInput;
}>;


export type FixtureRegisterMutation = { registerWorkspace: { accepted: boolean, reason: string | null, restartPending: boolean, workspace: { id: string, status: WorkspaceStatus, model: string | null, lastSampleError: string | null } } };

export type FixtureHeartbeatMutationVariables = Exact<{
  input: HeartbeatInput;
}>;


export type FixtureHeartbeatMutation = { heartbeat: { accepted: boolean, reason: string | null, restartPending: boolean, workspace: { id: string, status: WorkspaceStatus, model: string | null, lastSampleError: string | null } } };


export const ExternalEventsDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"ExternalEvents"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"workspaceEvents"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"workspaceId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cursor"}},{"kind":"Field","name":{"kind":"Name","value":"previousStatus"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"workspace"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}}]}}]} as unknown as DocumentNode<ExternalEventsSubscription, ExternalEventsSubscriptionVariables>;
export const FixtureCreateOrgDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"FixtureCreateOrg"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateOrgInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createOrg"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]} as unknown as DocumentNode<FixtureCreateOrgMutation, FixtureCreateOrgMutationVariables>;
export const FixtureCreateTokenDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"FixtureCreateToken"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateApiTokenInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createApiToken"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"token"}}]}}]}}]} as unknown as DocumentNode<FixtureCreateTokenMutation, FixtureCreateTokenMutationVariables>;
export const FixtureCreateWorkspaceDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"FixtureCreateWorkspace"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateWorkspaceInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createWorkspace"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}}]}}]}}]} as unknown as DocumentNode<FixtureCreateWorkspaceMutation, FixtureCreateWorkspaceMutationVariables>;
export const FixtureIssueTokenDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"FixtureIssueToken"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"issueWorkspaceToken"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"workspaceId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"token"}}]}}]}}]} as unknown as DocumentNode<FixtureIssueTokenMutation, FixtureIssueTokenMutationVariables>;
export const FixtureRegisterDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"FixtureRegister"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"RegisterInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"registerWorkspace"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"accepted"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"restartPending"}},{"kind":"Field","name":{"kind":"Name","value":"workspace"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"lastSampleError"}}]}}]}}]}}]} as unknown as DocumentNode<FixtureRegisterMutation, FixtureRegisterMutationVariables>;
export const FixtureHeartbeatDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"FixtureHeartbeat"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"HeartbeatInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"heartbeat"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"accepted"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"restartPending"}},{"kind":"Field","name":{"kind":"Name","value":"workspace"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"lastSampleError"}}]}}]}}]}}]} as unknown as DocumentNode<FixtureHeartbeatMutation, FixtureHeartbeatMutationVariables>;