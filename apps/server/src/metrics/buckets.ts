/**
 * exponentialBuckets is client_golang's ExponentialBuckets: `count` histogram upper bounds,
 * the first `start`, each next one `factor` times the last (etcd declares its buckets so).
 */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0, b = start; i < count; i++, b *= factor) out.push(b);
  return out;
}
