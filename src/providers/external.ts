import type { Provider } from './provider.ts';

/** The runtime is started by someone else and registers itself with its workspace token. */
export const externalProvider: Provider = {
  name: 'external',
  startsRuntime: false,
  available: () => true,
  provision: async () => ({ instanceId: null, url: null }),
  stop: async () => undefined,
  isRunning: async () => new Map(), // unknowable: never proven gone
  listInstances: async () => [], // nothing of ours to list
};
