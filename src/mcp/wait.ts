import { ApiError, type Api, type Subscription } from './api.ts';
import { readRequest, REQUEST_FIELDS, type RequestView } from './requests.ts';

export type WaitOutcome =
  | { outcome: 'DECIDED' | 'TIMED_OUT' | 'CANCELLED'; request: RequestView }
  | { outcome: 'NOT_FOUND' };

type Options = {
  timeoutMs: number;
  signal?: AbortSignal;
  progress?: (done: number, total: number, message: string) => Promise<void>;
  /** Progress interval (tests shorten it). */
  progressEveryMs?: number;
};

type Event = { requestEvents: { cursor: string; status: string; request: RequestView } };

/**
 * Waits for a request to leave PENDING, without polling: it takes the newest activity cursor,
 * subscribes to `requestEvents(after: cursor)` — the server replays every request event after that
 * cursor, then goes live, with no gap — and only then reads the request. A decision committed
 * before the read is in the read; one committed after the cursor is in the stream. Every exit
 * (decision, timeout, cancellation, error) closes the subscription.
 */
export async function waitForDecision(
  api: Api,
  requestId: string,
  opts: Options,
): Promise<WaitOutcome> {
  if (!api.subscribe) throw new ApiError('INTERNAL', 'this MCP server has no subscription transport');
  const { activity } = await api.request<{ activity: { edges: { cursor: string }[] } }>('activity',
    'query McpCursor { activity(first: 1) { edges { cursor } } }');
  const after = activity.edges[0]?.cursor ?? '0';
  const sub: Subscription<Event> = api.subscribe<Event>('requestEvents',
    `subscription McpRequestEvents($after: String) { requestEvents(after: $after) { cursor status request { ${REQUEST_FIELDS} } } }`,
    { after });

  let timer: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const current = await readRequest(api, requestId);
    if (!current) return { outcome: 'NOT_FOUND' };
    if (current.status !== 'PENDING') return { outcome: 'DECIDED', request: current };

    const started = Date.now();
    const stop = new Promise<'TIMED_OUT' | 'CANCELLED'>((resolve) => {
      timer = setTimeout(() => resolve('TIMED_OUT'), opts.timeoutMs);
      if (opts.signal) {
        onAbort = () => resolve('CANCELLED');
        if (opts.signal.aborted) onAbort();
        else opts.signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    if (opts.progress) {
      const report = opts.progress;
      ticker = setInterval(() => {
        const waited = Date.now() - started;
        void report(waited, opts.timeoutMs, `still waiting for a decision on ${requestId}`).catch(() => undefined);
      }, opts.progressEveryMs ?? 10_000);
    }
    for (;;) {
      const next = await Promise.race([sub.next(), stop]);
      if (next === 'TIMED_OUT' || next === 'CANCELLED') return { outcome: next, request: current };
      const e = next.requestEvents;
      if (e.request.id === requestId && e.status !== 'PENDING') return { outcome: 'DECIDED', request: e.request };
    }
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    await sub.close();
  }
}
