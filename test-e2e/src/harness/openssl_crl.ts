import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** CrlFiles are one CRL in both encodings etcd reads: PEM and DER. */
export interface CrlFiles {
  pem: string;
  der: string;
}

/** opensslDate renders a time as the index.txt date OpenSSL's `ca` keeps (YYMMDDHHMMSSZ). */
function opensslDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/**
 * opensslCrl has the openssl CLI (`openssl ca -gencrl`, as operators make CRLs) issue a CRL
 * signed by the CA that revokes the given certificates, written under `dir` in PEM and,
 * through `openssl crl -outform DER`, in DER.
 */
export function opensslCrl(dir: string, ca: { cert: string; key: string }, revokedCertFiles: readonly string[], name = "crl"): CrlFiles {
  const work = mkdtempSync(join(dir, `${name}-ca-`));
  const caCert = join(work, "ca.pem");
  const caKey = join(work, "ca-key.pem");
  writeFileSync(caCert, ca.cert);
  writeFileSync(caKey, ca.key, { mode: 0o600 });
  const now = new Date();
  const lines = revokedCertFiles.map((f) => {
    const serial = execFileSync("openssl", ["x509", "-in", f, "-noout", "-serial"], { encoding: "utf8" }).trim().replace(/^serial=/, "");
    return `R\t${opensslDate(new Date(now.getTime() + 86_400_000))}\t${opensslDate(new Date(now.getTime() - 60_000))}\t${serial}\tunknown\t/CN=revoked\n`;
  });
  writeFileSync(join(work, "index.txt"), lines.join(""));
  writeFileSync(join(work, "crlnumber"), "01\n");
  const cnf = join(work, "ca.cnf");
  writeFileSync(
    cnf,
    ["[ ca ]", "default_ca = CA_default", "[ CA_default ]", `database = ${join(work, "index.txt")}`, `crlnumber = ${join(work, "crlnumber")}`, "default_md = sha256", "default_crl_days = 1", ""].join("\n"),
  );
  const pem = join(dir, `${name}.pem`);
  const der = join(dir, `${name}.der`);
  execFileSync("openssl", ["ca", "-gencrl", "-config", cnf, "-cert", caCert, "-keyfile", caKey, "-out", pem], { stdio: "ignore" });
  execFileSync("openssl", ["crl", "-in", pem, "-outform", "DER", "-out", der], { stdio: "ignore" });
  return { pem, der };
}
