export const when = (iso: string) => new Date(iso).toLocaleString();

/** "12 s ago", "3 min ago", … (the exact time is in the element's title). */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return when(iso);
}
