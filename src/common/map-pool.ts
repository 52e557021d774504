/**
 * `fn` over every item, at most `concurrency` at a time, taken in order; the results in the items'
 * order. Hand-written: a dozen lines, and the one thing its callers need (a bounded pool with
 * ordered results) is all it does.
 */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(concurrency, 1), items.length) }, worker));
  return results;
}
