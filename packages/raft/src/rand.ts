/**
 * seededRandom returns a deterministic pseudo-random source in [0, 1) (mulberry32 over a
 * 32-bit state). raft uses it only to spread election timeouts; the same seed always yields
 * the same sequence, so simulations are reproducible.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** seedFromId folds a 64-bit member id into a 32-bit seed for seededRandom. */
export function seedFromId(id: bigint): number {
  const lo = Number(id & 0xffffffffn);
  const hi = Number((id >> 32n) & 0xffffffffn);
  return (lo ^ Math.imul(hi, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
}
