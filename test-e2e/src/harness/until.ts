/**
 * until polls fn (every 100 ms) until it returns a value other than undefined, treating a
 * thrown error as "not yet"; it throws once `ms` have passed.
 */
export async function until<T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}
