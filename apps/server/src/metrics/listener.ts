import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "../log.js";

/**
 * MetricsListener is one --listen-metrics-urls endpoint: a plain HTTP/1.1 server on the
 * URL's host and port serving `handler` (/metrics and /health), as etcd's metrics listeners.
 */
export class MetricsListener {
  private constructor(private readonly server: Server) {}

  /** listen binds u (an http:// URL) and resolves once it accepts connections. */
  static async listen(u: URL, handler: (req: IncomingMessage, res: ServerResponse) => void, logger: Logger): Promise<MetricsListener> {
    const server = createServer(handler);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(u.port), host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    logger.info("serving metrics", { address: u.href.replace(/\/$/, "") });
    return new MetricsListener(server);
  }

  /** close stops accepting and ends the open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
