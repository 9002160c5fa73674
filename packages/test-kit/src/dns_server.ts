import { createSocket, type Socket } from "node:dgram";
import * as dnsPacket from "dns-packet";

/** DnsRecords answer questions by name (lower case, no trailing dot): a name absent from the map does not exist. */
export type DnsRecords = Map<string, dnsPacket.Answer[]>;
export type DnsAnswer = dnsPacket.Answer;

/** TEST_DNS_ADDR is the loopback address the test DNS server listens on (port 53; binding it needs root). */
export const TEST_DNS_ADDR = "127.0.0.153";

/**
 * startDnsServer serves `records` over UDP on addr:53: a known name's answers of the asked
 * type (none for another type, NOERROR), NXDOMAIN for an unknown name. Records may be changed
 * while it runs. Close the returned socket to stop it.
 */
export async function startDnsServer(records: DnsRecords, addr = TEST_DNS_ADDR): Promise<Socket> {
  const sock = createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (question === undefined) return;
    const all = records.get(question.name.toLowerCase().replace(/\.$/, ""));
    const answers = (all ?? []).filter((a) => a.type === question.type);
    const reply = dnsPacket.encode({
      id: q.id ?? 0,
      type: "response",
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (all === undefined ? 3 : 0),
      questions: [question],
      answers,
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(53, addr, () => resolve());
  });
  return sock;
}

/** srvAnswer is an SRV record for name pointing at target:port. */
export function srvAnswer(name: string, target: string, port: number): DnsAnswer {
  return { type: "SRV", name, ttl: 60, data: { priority: 0, weight: 0, port, target } };
}

/** aAnswer is an A record. */
export function aAnswer(name: string, address: string): DnsAnswer {
  return { type: "A", name, ttl: 60, data: address };
}

/**
 * withResolvConf wraps a command line so it runs in a private mount namespace (unshare
 * --mount, as root) where /etc/resolv.conf is the given file: the process resolves through
 * the test's DNS server without the machine's configuration changing.
 */
export function withResolvConf(resolvConf: string, cli: readonly string[]): string[] {
  return ["unshare", "--mount", "--", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, ...cli];
}

/** resolvConfText is a resolv.conf naming only the test DNS server. */
export function resolvConfText(addr = TEST_DNS_ADDR): string {
  return `nameserver ${addr}\noptions attempts:1 timeout:2\n`;
}
