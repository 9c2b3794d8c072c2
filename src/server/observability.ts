import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from './metrics.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const requestIds = new WeakMap<http.IncomingMessage, string>();

/**
 * The request id of an HTTP request: the caller's X-Request-Id when sane, else a new one. Decided
 * on the Node request (src/server/server.ts echoes it with `res.setHeader` before yoga answers,
 * and yoga's context reads it from there): no header lookup on the fetch Request, and no header
 * set on yoga's Response, which would cost whatwg-node its one-call `writeHead`.
 */
export function requestIdOf(req: http.IncomingMessage): string {
  let id = requestIds.get(req);
  if (id === undefined) {
    const given = req.headers['x-request-id'];
    id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    requestIds.set(req, id);
  }
  return id;
}

type Labels = { type: string; operation: string };
/** Per parsed document (yoga's parser cache hands out the same one for the same query string). */
const described = new WeakMap<DocumentNode, Map<string, Labels>>();

function describe(document: DocumentNode, operationName: string | null | undefined): Labels {
  let byName = described.get(document);
  if (!byName) described.set(document, (byName = new Map()));
  let labels = byName.get(operationName ?? '');
  if (!labels) {
    const op = getOperationAST(document, operationName);
    const first = op?.selectionSet.selections.find((s) => s.kind === 'Field');
    labels = { type: op?.operation ?? 'unknown', operation: first?.kind === 'Field' ? first.name.value : 'unknown' };
    if (op) byName.set(operationName ?? '', labels); // bounded by the document's own operations
  }
  return labels;
}

const outcomeOf = (result: unknown) => ((result as ExecutionResult | undefined)?.errors?.length ? 'error' : 'ok');

/**
 * Request ids (on every log line of the request; echoed as X-Request-Id by the server), one log line per
 * operation, and the request metrics by operation type and first root field.
 */
export function useObservability(metrics: Metrics, log: Logger): Plugin<{ requestId?: string }> {
  return {
    onValidate() {
      return ({ valid }) => {
        if (!valid) metrics.requests.inc({ type: 'unknown', operation: 'invalid', outcome: 'rejected' });
      };
    },
    onExecute({ args }) {
      const labels = describe(args.document, args.operationName);
      const end = metrics.latency.startTimer(labels);
      const start = performance.now();
      const requestId = (args.contextValue as { requestId?: string }).requestId;
      return {
        onExecuteDone({ result }) {
          end();
          const outcome = outcomeOf(result);
          metrics.requests.inc({ ...labels, outcome });
          const codes = (result as ExecutionResult).errors?.map((e) => e.extensions?.code);
          const line = { requestId, ...labels, outcome, ms: Math.round(performance.now() - start), ...(codes?.length ? { codes } : {}) };
          if (outcome === 'ok') log.debug(line, 'graphql operation');
          else log.info(line, 'graphql operation failed');
        },
      };
    },
    onSubscribe({ args }) {
      const labels = describe(args.document, args.operationName);
      metrics.requests.inc({ ...labels, outcome: 'ok' });
      log.debug({ requestId: (args.contextValue as { requestId?: string }).requestId, ...labels }, 'graphql subscription');
    },
  };
}
