// A FIFO queue on a growable ring buffer: O(1) push and shift, no Array.shift on hot queues.

export class Deque<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** Item at position i from the front (0 = oldest). */
  at(i: number): T | undefined {
    return i < 0 || i >= this.count ? undefined : this.items[(this.head + i) % this.items.length];
  }

  /** Keeps only the items for which `keep` is true, in order; for rare clean-ups, not the hot path. */
  filter(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const it = this.items[(this.head + i) % this.items.length] as T;
      if (keep(it)) kept.push(it);
    }
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    for (const it of kept) this.push(it);
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    // Doubling keeps pushes amortised O(1); the ring is unrolled so the oldest item lands at index 0.
    const next = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
