import { Client } from "@etcd-ts/client";

/**
 * LeaseNames masks the lease IDs a server chose, so outputs of twin servers (which pick
 * different IDs) compare equal: the n-th lease learned becomes <LEASE n> in every form
 * etcdctl prints an ID in — %016x and %x hex (also inside keys such as a lock's
 * "<name>/<lease hex>", and inside base64 keys of JSON output), and decimal.
 * Leases must be learned in the order they were granted (IDs of one server only grow).
 */
export class LeaseNames {
  private readonly ids: bigint[] = [];
  private readonly known = new Set<bigint>();
  readonly endpoint: string;

  constructor(endpoint: string) {
    this.endpoint = endpoint;
  }

  /** fixed records IDs the test chose itself; they are printed as they are. */
  fixed(...ids: bigint[]): void {
    for (const id of ids) this.known.add(id);
  }

  /** learn adds the server's leases not seen yet, in ID order. */
  async learn(): Promise<void> {
    const c = new Client({ endpoints: [this.endpoint] });
    try {
      const r = await c.lease.leases({ timeoutMs: 5000 });
      const fresh = r.leases.map((l) => l.ID).filter((id) => !this.known.has(id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const id of fresh) {
        this.known.add(id);
        this.ids.push(id);
      }
    } finally {
      c.close();
    }
  }

  /** mask replaces every learned lease ID in text (read as latin1) by its name. */
  mask(text: string): string {
    if (this.ids.length === 0) return text;
    // JSON keys and values are base64: decode those that hold a lease ID.
    let t = text.replace(/"(key|value)":"([A-Za-z0-9+/=]+)"/g, (m, field: string, b64: string) => {
      const decoded = Buffer.from(b64, "base64").toString("latin1");
      const masked = this.maskPlain(decoded);
      return masked === decoded ? m : `"${field}":<${JSON.stringify(masked)}>`;
    });
    t = this.maskPlain(t);
    return t;
  }

  /**
   * maskPlain replaces the IDs in one pass, each form only as a whole word (not inside a
   * longer number or hex string), so small IDs cannot hit digits elsewhere.
   */
  private maskPlain(text: string): string {
    const forms = new Map<string, string>();
    this.ids.forEach((id, i) => {
      const name = `<LEASE ${i + 1}>`;
      forms.set(id.toString(16).padStart(16, "0"), name);
      forms.set(id.toString(16), name);
      forms.set(id.toString(), name);
    });
    const alts = [...forms.keys()].sort((x, y) => y.length - x.length);
    const re = new RegExp(`(?<![0-9A-Za-z])(?:${alts.join("|")})(?![0-9A-Za-z])`, "g");
    return text.replace(re, (m) => forms.get(m) ?? m);
  }
}
