/**
 * At most `limit` tasks in flight. `start` returns once the task has started (waiting for a free
 * slot first), so a producer that awaits it is held back while every slot is busy; `drain` waits
 * for every started task. A task must not reject: it handles its own errors.
 */
export class Bounded {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`a bound of at least 1 is needed (got ${limit})`);
  }

  async start(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const p: Promise<void> = task().finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}
