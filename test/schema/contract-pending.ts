/**
 * Parts of the contract (schema/contract.graphql) not implemented yet. Each entry is a type
 * (`Secret`) or a field (`Mutation.setSecret`). The contract test fails if an entry here is
 * actually present (remove it in the change that implements it) or if anything else is missing.
 */
export const PENDING_CONTRACT: string[] = [
];
