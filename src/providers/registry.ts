import { AppError } from '../shared/errors.ts';
import type { Provider } from './provider.ts';

/** The providers this process knows, by name (CONTRACT §9). */
export class ProviderRegistry {
  private byName = new Map<string, Provider>();
  constructor(providers: Provider[]) {
    for (const p of providers) this.byName.set(p.name, p);
  }

  list(): Provider[] {
    return [...this.byName.values()];
  }

  /** The provider to use for a new assignment: must exist and be available. */
  requireAvailable(name: string): Provider {
    const provider = this.byName.get(name);
    if (!provider) throw new AppError('BAD_USER_INPUT', `unknown provider "${name}"; known: ${[...this.byName.keys()].join(', ')}`);
    if (!provider.available()) throw new AppError('PROVIDER_UNAVAILABLE', `provider "${name}" is not available on this deployment`);
    return provider;
  }

  get(name: string): Provider | undefined {
    return this.byName.get(name);
  }
}
