import type { Services } from '../app/context.ts';

/** Runs `fn` every `intervalMs` (first run after `firstAfterMs`) until stopped; a failing run is logged and retried. */
export function startPeriodic(svc: Pick<Services, 'log'>, name: string, intervalMs: number, fn: () => Promise<unknown>, firstAfterMs = intervalMs): { stop: () => Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const tick = () => {
    running = fn()
      .catch((err: Error) => svc.log.error({ err: err.message }, `${name} failed`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, firstAfterMs);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
