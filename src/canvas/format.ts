/** A moment, short: the time alone when it is today, else a short date and time. */
export function when(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const today = d.toDateString() === now.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

/** "12 s ago", "3 min ago", … (the exact time is in the element's title). */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return when(iso);
}
