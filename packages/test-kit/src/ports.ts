import { createServer } from "node:net";

/**
 * PORT_LOW..PORT_HIGH is where freePort looks: below Linux's ephemeral range (32768-60999),
 * so the outgoing connections of the servers under test (whose local ports the kernel takes
 * from that range) can never occupy a port between the moment it was found free and the
 * moment a server listens on it.
 */
const PORT_LOW = 20000;
const PORT_HIGH = 32000;

/** handedOut remembers the ports this process already returned, so two callers never get one. */
const handedOut = new Set<number>();

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** freePort returns a loopback TCP port that was free a moment ago and not returned before by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW));
    if (handedOut.has(port)) continue;
    if (await tryListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`test-kit: no free port in ${PORT_LOW}-${PORT_HIGH}`);
}
