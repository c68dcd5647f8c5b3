/**
 * Certificate file checks: not found, not readable, not a certificate (PEM parse), and the wrong
 * certificate (TLS verification against a real server fails with the configured CA file).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { assertStringIncludes } from "../support/assert.ts";
import { joinPath } from "../../src/platform/fs.ts";
import {
  checkCertificateFile,
  pemCertificateProblem,
  wrongCertificateProblem,
} from "../../src/net/tls_files.ts";
import { makeTestPki } from "../status/tls_fixture.ts";

const haveOpenssl = await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);
const CI = Deno.env.get("CI") === "true";
const bytes = (t: string) => new TextEncoder().encode(t);

Deno.test("pemCertificateProblem: empty, no PEM, a key, another block, damaged base64 or DER", () => {
  assertEquals(pemCertificateProblem(bytes("")), "the file is empty");
  assertStringIncludes(pemCertificateProblem(bytes("hello"))!, "holds no PEM certificate");
  assertStringIncludes(
    pemCertificateProblem(bytes("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"))!,
    "private key, not a certificate",
  );
  assertStringIncludes(
    pemCertificateProblem(
      bytes("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"),
    )!,
    "CERTIFICATE REQUEST block",
  );
  assertStringIncludes(
    pemCertificateProblem(bytes("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n"))!,
    "certificate 1 of 1 in it is damaged",
  );
  // Valid base64 of something that is not a Certificate SEQUENCE.
  assertStringIncludes(
    pemCertificateProblem(
      bytes(`-----BEGIN CERTIFICATE-----\n${btoa("plain text")}\n-----END CERTIFICATE-----\n`),
    )!,
    "damaged",
  );
});

Deno.test({
  name: "checkCertificateFile and wrong certificate against a real TLS server",
  ignore: !haveOpenssl && !CI,
  fn: async () => {
    const pki = await makeTestPki();
    const other = await makeTestPki();
    assertEquals(pemCertificateProblem(await Deno.readFile(pki.caFile)), null);
    assertEquals(await checkCertificateFile(pki.caFile), null);
    assertEquals(await checkCertificateFile(""), null);

    const missing = await checkCertificateFile(joinPath(pki.dir, "nope.pem"));
    assertEquals(missing?.kind, "not-found");
    assertStringIncludes(missing!.message, "nope.pem was not found");

    const folder = await checkCertificateFile(pki.dir);
    assertEquals(folder?.kind, "not-readable");
    assertStringIncludes(folder!.message, "cannot be read");

    if (Deno.build.os !== "windows" && Deno.uid() !== 0) {
      const locked = joinPath(pki.dir, "locked.pem");
      await Deno.writeTextFile(locked, pki.caPem);
      await Deno.chmod(locked, 0o000);
      assertEquals((await checkCertificateFile(locked))?.kind, "not-readable");
    }

    const key = await checkCertificateFile(joinPath(pki.dir, "ca.key"));
    assertEquals(key?.kind, "not-certificate");
    assertStringIncludes(key!.message, "private key");

    // DER instead of PEM is named as such.
    const der = joinPath(pki.dir, "ca.der");
    const conv = await new Deno.Command("openssl", {
      args: ["x509", "-in", pki.caFile, "-outform", "der", "-out", der],
    }).output();
    assert(conv.success);
    assertStringIncludes((await checkCertificateFile(der))!.message, "binary (DER) certificate");

    // The wrong certificate: a server signed by one CA, verified with another CA's file.
    const server = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: pki.cert, key: pki.key });
    const accepting = (async () => {
      for await (const conn of server) {
        conn.handshake().catch(() => {}).finally(() => conn.close());
      }
    })().catch(() => {});
    try {
      const port = server.addr.port;
      let message = "";
      try {
        const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [other.caPem] });
        try {
          await conn.handshake();
        } finally {
          conn.close();
        }
      } catch (e) {
        message = (e as Error).message;
      }
      const wrong = wrongCertificateProblem(other.caFile, `127.0.0.1:${port}`, message);
      assertEquals(wrong?.kind, "wrong-certificate", message);
      assertStringIncludes(wrong!.message, "is the wrong certificate");
      // The right CA verifies; an error that is not about the issuer is not "wrong certificate".
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [pki.caPem] });
      await conn.handshake();
      conn.close();
      assertEquals(wrongCertificateProblem(pki.caFile, "x", "Connection refused (os error 111)"), null);
      assertEquals(wrongCertificateProblem("", "x", "invalid peer certificate: UnknownIssuer"), null);
    } finally {
      server.close();
      await accepting;
      await Deno.remove(pki.dir, { recursive: true });
      await Deno.remove(other.dir, { recursive: true });
    }
  },
});
