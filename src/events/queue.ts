/**
 * An unbounded-until-limit push queue exposed as an async iterator: the bridge between the one
 * LISTEN dispatcher and each subscriber's GraphQL execution. A subscriber that falls too far
 * behind is ended with an error rather than letting its buffer grow without bound.
 */
export class PushQueue<T> implements AsyncIterableIterator<T> {
  private buffer: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((e: unknown) => void) | undefined;
  private done = false;
  private error: unknown;

  constructor(private readonly limit = 10_000, private readonly onClose?: () => void) {}

  push(value: T): void {
    if (this.done) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = undefined;
      resolve({ value, done: false });
      return;
    }
    if (this.buffer.length >= this.limit) {
      this.fail(new Error('subscriber too slow: event buffer overflowed'));
      return;
    }
    this.buffer.push(value);
  }

  /**
   * Whether the consumer is waiting in `next()` with nothing buffered: everything pushed so far
   * has been taken. A producer may then hand an item to the consumer's destination itself
   * without overtaking an earlier one (src/server/shared-subscriptions.ts).
   */
  get idle(): boolean {
    return this.waiting !== undefined && this.buffer.length === 0;
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.error = error;
    this.finish();
    if (this.failWaiting) {
      const reject = this.failWaiting;
      this.waiting = this.failWaiting = undefined;
      reject(error);
    }
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.buffer.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer = [];
    this.finish();
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = undefined;
      resolve({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  private finish() {
    if (this.done) return;
    this.done = true;
    this.onClose?.();
  }
}
