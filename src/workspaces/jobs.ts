import { registerOperationKind } from '../operations/kinds.ts';
import { restartJob, stopJob } from './operations.ts';
import { switchJob } from './switch-provider.ts';

/** The operation kinds the workspace feature owns, registered with the one operations pipeline (idempotent). */
export function registerWorkspaceOperations(): void {
  registerOperationKind('RESTART', restartJob);
  registerOperationKind('STOP', stopJob);
  registerOperationKind('DEPROVISION', stopJob);
  registerOperationKind('SWITCH_PROVIDER', switchJob);
}
