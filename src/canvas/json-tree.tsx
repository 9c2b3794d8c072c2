// A request's payload as a tree of text: every value is a text node (preact escapes it), never
// markup, so a payload cannot inject HTML or script into the page.

const OPEN_DEPTH = 2;

export function JsonTree({ value, depth = 0 }: { value: unknown; depth?: number }) {
  if (value === null) return <span class="json-null">null</span>;
  if (typeof value === 'string') return <span class="json-string">{JSON.stringify(value)}</span>;
  if (typeof value === 'number' || typeof value === 'boolean') return <span class="json-atom">{String(value)}</span>;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span class="json-atom">[]</span>;
    return (
      <details open={depth < OPEN_DEPTH}>
        <summary>{`[ ${value.length} item${value.length === 1 ? '' : 's'} ]`}</summary>
        <ol class="json" start={0}>
          {value.map((v, i) => <li key={i}><JsonTree value={v} depth={depth + 1} /></li>)}
        </ol>
      </details>
    );
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return <span class="json-atom">{'{}'}</span>;
    return (
      <details open={depth < OPEN_DEPTH}>
        <summary>{`{ ${entries.length} key${entries.length === 1 ? '' : 's'} }`}</summary>
        <ul class="json">
          {entries.map(([k, v]) => <li key={k}><span class="json-key">{k}</span>: <JsonTree value={v} depth={depth + 1} /></li>)}
        </ul>
      </details>
    );
  }
  return <span class="json-atom">{String(value)}</span>;
}
