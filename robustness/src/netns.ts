import { execFileSync } from "node:child_process";

/**
 * NetNs puts each member of a cluster in a network namespace of its own, joined by a bridge
 * in the root namespace (where the clients run), so faults act on packets as a real network's
 * do: a partition drops every packet between two members (TCP connections in both directions
 * stall, whoever dialed them). It needs root and iproute2's `ip`; `available()` says whether
 * this machine has them. (Packet loss and delay would need the kernel's netem qdisc, which the
 * kernel here lacks.)
 *
 * Addresses: 10.210.<k>.<i+1> for member i, 10.210.<k>.254 for the root side of the bridge;
 * names carry k (chosen per cluster) so that a crashed run's leftovers do not collide.
 */
export class NetNs {
  private readonly routes = new Set<string>();

  private constructor(
    readonly k: number,
    readonly size: number,
  ) {}

  /** available tells whether namespaces can be made here (root and a working `ip netns`). */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    try {
      execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  }

  /** create makes the bridge and one namespace per member; on failure it removes what it made. */
  static create(size: number): NetNs {
    const k = 1 + Math.floor(Math.random() * 250);
    const n = new NetNs(k, size);
    n.cleanup(); // leftovers of an earlier run that crashed with the same k
    try {
      ip(["link", "add", n.bridge, "type", "bridge"]);
      ip(["addr", "add", `${n.host()}/24`, "dev", n.bridge]);
      ip(["link", "set", n.bridge, "up"]);
      for (let i = 0; i < size; i++) {
        ip(["netns", "add", n.ns(i)]);
        ip(["link", "add", n.hostVeth(i), "type", "veth", "peer", "name", n.nsVeth(i)]);
        ip(["link", "set", n.nsVeth(i), "netns", n.ns(i)]);
        ip(["link", "set", n.hostVeth(i), "master", n.bridge]);
        ip(["link", "set", n.hostVeth(i), "up"]);
        ip(["netns", "exec", n.ns(i), "ip", "addr", "add", `${n.ip(i)}/24`, "dev", n.nsVeth(i)]);
        ip(["netns", "exec", n.ns(i), "ip", "link", "set", n.nsVeth(i), "up"]);
        ip(["netns", "exec", n.ns(i), "ip", "link", "set", "lo", "up"]);
      }
    } catch (err) {
      n.cleanup();
      throw err;
    }
    return n;
  }

  get bridge(): string {
    return `etrb${this.k}`;
  }
  ns(i: number): string {
    return `etr${this.k}m${i}`;
  }
  private hostVeth(i: number): string {
    return `etr${this.k}h${i}`;
  }
  private nsVeth(i: number): string {
    return `etr${this.k}n${i}`;
  }
  /** ip is member i's address. */
  ip(i: number): string {
    return `10.210.${this.k}.${i + 1}`;
  }
  /** host is the root namespace's address on the bridge (the clients'). */
  host(): string {
    return `10.210.${this.k}.254`;
  }
  /** exec is the command prefix that runs a program in member i's namespace. */
  exec(i: number): string[] {
    return ["ip", "netns", "exec", this.ns(i)];
  }

  /** cut drops every packet between members a and b, both ways. */
  cut(a: number, b: number): void {
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const key = `${from}>${to}`;
      if (this.routes.has(key)) continue;
      ip(["netns", "exec", this.ns(from), "ip", "route", "add", "blackhole", `${this.ip(to)}/32`]);
      this.routes.add(key);
    }
  }

  /** isolate cuts member i from every other member (its clients can still reach it). */
  isolate(i: number): void {
    for (let j = 0; j < this.size; j++) if (j !== i) this.cut(i, j);
  }

  /** heal removes every cut. */
  heal(): void {
    for (const key of this.routes) {
      const [from, to] = key.split(">").map(Number) as [number, number];
      tryIp(["netns", "exec", this.ns(from), "ip", "route", "del", "blackhole", `${this.ip(to)}/32`]);
    }
    this.routes.clear();
  }

  /** cleanup removes the namespaces (their veth ends go with them) and the bridge. */
  cleanup(): void {
    for (let i = 0; i < this.size; i++) tryIp(["netns", "del", this.ns(i)]);
    for (let i = 0; i < this.size; i++) tryIp(["link", "del", this.hostVeth(i)]);
    tryIp(["link", "del", this.bridge]);
  }
}

function ip(args: readonly string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
    throw new Error(`robustness: ip ${args.join(" ")}: ${stderr || String(err)}`);
  }
}

function tryIp(args: readonly string[]): void {
  try {
    execFileSync("ip", args, { stdio: "ignore" });
  } catch {
    // already gone
  }
}
