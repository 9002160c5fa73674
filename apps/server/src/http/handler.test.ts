import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseCors, parseHostWhitelist } from "../config/access.js";
import { createCertificate } from "../tls/self_signed.js";
import { Logger } from "../log.js";
import { accessControlled, ALLOW_ALL, type HttpAccess } from "./handler.js";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** serve listens with `access` in front of a handler that answers "ok" (what reached it). */
async function serve(access: HttpAccess, tls?: { cert: string; key: string }): Promise<number> {
  const next = accessControlled(access, (_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  });
  const s = tls === undefined ? createServer(next) : createHttpsServer(tls, next);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
}

/** ask sends one request with exactly the Host and Origin headers given. */
function ask(port: number, o: { method?: string; host?: string; origin?: string; tls?: boolean } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.host !== undefined) headers.Host = o.host;
  if (o.origin !== undefined) headers.Origin = o.origin;
  const opts = { host: "127.0.0.1", port, path: "/version", method: o.method ?? "GET", headers, setHost: o.host === undefined, agent: false };
  return new Promise((resolve, reject) => {
    const req = (o.tls === true ? httpsRequest({ ...opts, rejectUnauthorized: false }) : request(opts)).on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const CORS_ALL = {
  "access-control-allow-methods": "POST, GET, OPTIONS, PUT, DELETE",
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "accept, content-type, authorization",
};

function access(cors: string, hosts: string, logger?: Logger): HttpAccess {
  return { cors: parseCors(cors), hostWhitelist: parseHostWhitelist(hosts), ...(logger !== undefined ? { logger } : {}) };
}

// Each expectation below was checked against etcd 3.4.23 with curl on the same requests.
describe("client HTTP access control (--cors, --host-whitelist)", () => {
  it("by default (--cors='*') puts the CORS headers on every answer and answers OPTIONS itself", async () => {
    const port = await serve(ALLOW_ALL);
    const get = await ask(port);
    expect(get.status).toBe(200);
    expect(get.body).toBe("ok");
    expect(get.headers).toMatchObject(CORS_ALL);
    const pre = await ask(port, { method: "OPTIONS", origin: "http://x:1" });
    expect(pre.status).toBe(200);
    expect(pre.body).toBe("");
    expect(pre.headers).toMatchObject(CORS_ALL);
    expect(pre.headers["content-length"]).toBe("0");
  });

  it("with a --cors list, answers only a listed Origin with the CORS headers naming it", async () => {
    const port = await serve(access("http://a.example:8080, https://b.example:443", "*"));
    const listed = await ask(port, { origin: "http://a.example:8080" });
    expect(listed.headers).toMatchObject({ ...CORS_ALL, "access-control-allow-origin": "http://a.example:8080" });
    expect((await ask(port, { origin: "https://b.example:443" })).headers["access-control-allow-origin"]).toBe("https://b.example:443");
    for (const origin of ["http://x:1", "https://b.example", "http://A.example:8080", undefined]) {
      const a = await ask(port, origin === undefined ? {} : { origin });
      expect(a.status).toBe(200);
      expect(a.headers["access-control-allow-origin"], String(origin)).toBeUndefined();
      expect(a.headers["access-control-allow-methods"]).toBeUndefined();
    }
    const pre = await ask(port, { method: "OPTIONS", origin: "http://x:1" });
    expect(pre.status).toBe(200);
    expect(pre.body).toBe("");
    expect(pre.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("refuses a Host outside --host-whitelist with 421 and etcd's explanation, before CORS and OPTIONS", async () => {
    const lines: string[] = [];
    const logger = new (class extends Logger {
      protected override write(_level: string, caller: string, msg: string, fields?: object): void {
        lines.push(`${caller} ${msg} ${JSON.stringify(fields)}`);
      }
    })("info", []);
    const port = await serve(access("http://a.example:8080", "localhost,127.0.0.1,[::1]", logger));
    const evil = await ask(port, { host: "evil.example:2379" });
    expect(evil.status).toBe(421);
    expect(evil.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(evil.headers["x-content-type-options"]).toBe("nosniff");
    expect(evil.body).toBe(
      [
        "",
        "etcd received your request, but the Host header was unrecognized.",
        "",
        "To fix this, choose one of the following options:",
        "- Enable TLS, then any HTTPS request will be allowed.",
        "- Add the hostname you want to use to the whitelist in settings.",
        '  - e.g. etcd --host-whitelist "evil.example"',
        "",
        'This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).',
        "",
        "",
      ].join("\n"),
    );
    expect(lines).toEqual([expect.stringMatching(/^server\/http\/handler.ts:\d+ rejecting/)]);
    expect(lines[0]).toContain('rejecting HTTP request to prevent DNS rebinding attacks {"host":"evil.example"}');
    const pre = await ask(port, { method: "OPTIONS", host: "evil.example", origin: "http://a.example:8080" });
    expect(pre.status).toBe(421);
    expect(pre.headers["access-control-allow-origin"]).toBeUndefined();

    // The host part of Host is compared (Go's net.SplitHostPort, or the whole header).
    expect((await ask(port, { host: "127.0.0.1:2379" })).status).toBe(200);
    expect((await ask(port, { host: "localhost" })).status).toBe(200);
    expect((await ask(port, { host: "[::1]" })).status).toBe(200);
    expect((await ask(port, { host: "[::1]:5" })).status).toBe(421); // host part "::1" is not listed
    expect((await ask(port, { host: "LOCALHOST" })).status).toBe(421);
    expect((await ask(port, { host: "localhost:::" })).status).toBe(421);
    expect((await ask(port, { host: "" })).status).toBe(421);
  });

  it("does not check the Host of requests over TLS", async () => {
    const pair = await createCertificate({ hosts: ["127.0.0.1"], serverAuth: true, validForMs: 3_600_000 });
    const port = await serve(access("*", "localhost"), { cert: pair.certPem, key: pair.keyPem });
    const a = await ask(port, { host: "evil.example:2379", tls: true });
    expect(a.status).toBe(200);
    expect(a.headers).toMatchObject(CORS_ALL);
  });
});

describe("parseCors and parseHostWhitelist", () => {
  it("reads --cors as etcd's types.NewURLs, keeping '*' only on its own", () => {
    expect([...parseCors("*")]).toEqual(["*"]);
    expect([...parseCors("HTTP://A.example:1, http://b:2")]).toEqual(["http://A.example:1", "http://b:2"]);
    expect(() => parseCors("http://x")).toThrow('URL address does not have the form "host:port": http://x');
    expect(() => parseCors("*,http://a:1")).toThrow("URL scheme must be http, https, unix, or unixs: *");
    expect(() => parseCors("")).toThrow("URL scheme must be http, https, unix, or unixs: ");
    expect(() => parseCors("ftp://a:1")).toThrow("URL scheme must be http, https, unix, or unixs: ftp://a:1");
    expect(() => parseCors("http://a:1/p")).toThrow("URL must not contain a path: http://a:1/p");
  });

  it("reads --host-whitelist as comma-separated names, untrimmed", () => {
    expect([...parseHostWhitelist("a, b,[::1]")]).toEqual(["a", " b", "[::1]"]);
    expect([...parseHostWhitelist("*")]).toEqual(["*"]);
  });
});
