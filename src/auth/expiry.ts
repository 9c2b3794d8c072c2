/** setTimeout's longest delay (about 24.8 days); longer waits are chained. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Calls `fn` once the wall clock reaches `at` (epoch ms): how an expiring token's open
 * connections and streams end on time (CONTRACT §10). Returns the cancel.
 */
export function atTime(at: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const delay = at - Date.now();
    if (delay <= 0) return fn();
    timer = setTimeout(arm, Math.min(delay, MAX_DELAY));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
