import { open } from "node:fs/promises";

/** syncDir fsyncs a directory so that entries created, renamed or removed in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
