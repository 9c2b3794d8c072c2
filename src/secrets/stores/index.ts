import type { Config } from '../../config.ts';
import { AwsSecretStore } from './aws.ts';
import { LocalSecretStore } from './local.ts';
import { SecretStoreError, type SecretStore } from './store.ts';

/** The store new values are written to (TRELLIS_SECRET_STORE), and every store a row may name. */
export type SecretStores = { current: SecretStore; get(name: string): SecretStore; local?: LocalSecretStore };

export function buildSecretStores(config: Pick<Config, 'secretStore' | 'dataDir' | 'awsRegion' | 'awsEndpoint' | 'secretKeys'>): SecretStores {
  const local = new LocalSecretStore(config.dataDir, config.secretKeys);
  const aws = config.awsRegion ? new AwsSecretStore({ region: config.awsRegion, endpoint: config.awsEndpoint }) : undefined;
  return { ...storesOf(config.secretStore === 'aws' && aws ? aws : local, [local, ...(aws ? [aws] : [])]), local };
}

export function storesOf(current: SecretStore, all: SecretStore[] = [current]): SecretStores {
  const byName = new Map([...all, current].map((s) => [s.name as string, s]));
  return {
    current,
    get(name) {
      const store = byName.get(name);
      if (!store) throw new SecretStoreError(`secret store ${name} is not configured on this server`, false);
      return store;
    },
  };
}
