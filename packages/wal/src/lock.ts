import { open, readFile, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";

/** LOCK_FILE is the name of the lock file inside a WAL directory. */
export const LOCK_FILE = "wal.lock";

/** held holds the resolved directories this process has locked (a pid check cannot tell them apart). */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * DirLock keeps two WAL instances (in this or another process) from writing one directory.
 * It is a file created with O_EXCL holding the owner's pid. A lock file whose pid is not a
 * live process, or is this process's pid but not held by this process (a previous
 * incarnation with a reused pid), is stale and taken over. Two processes racing to take over
 * the same stale lock are not excluded; that needs a crash and a simultaneous double start.
 */
export class DirLock {
  private released = false;

  private constructor(
    private readonly path: string,
    private readonly key: string,
  ) {}

  /** acquire locks dir or throws an Error naming the owner. */
  static async acquire(dir: string): Promise<DirLock> {
    const key = resolve(dir);
    const path = join(dir, LOCK_FILE);
    if (held.has(key)) {
      throw new Error(`wal: ${dir} is already open in this process`);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, "wx");
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        held.add(key);
        return new DirLock(path, key);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
          throw err;
        }
      }
      let pid = Number.NaN;
      try {
        pid = Number.parseInt(await readFile(path, "utf8"), 10);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          throw err;
        }
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(`wal: ${dir} is locked by process ${pid}`);
      }
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") {
          throw err;
        }
      });
    }
    throw new Error(`wal: cannot lock ${dir}: lock file keeps reappearing`);
  }

  /** release removes the lock file; calling it again does nothing. */
  async release(): Promise<void> {
    if (this.released) {
      return;
    }
    this.released = true;
    held.delete(this.key);
    await unlink(this.path).catch(() => undefined);
  }
}
