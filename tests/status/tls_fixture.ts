/**
 * A throw-away certificate authority and server certificates made with openssl, for tests that
 * need a real HTTPS server with a private CA (doctor, settings). In CI a missing openssl fails.
 */
import { joinPath } from "../../src/platform/fs.ts";

/** Files and PEM texts of a test CA and one server certificate signed by it. */
export interface TestPki {
  dir: string;
  caFile: string;
  caPem: string;
  /** Certificate for localhost and 127.0.0.1. */
  cert: string;
  key: string;
  /** Certificate for another name only (other.example), same CA. */
  wrongNameCert: string;
  wrongNameKey: string;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Makes a fresh CA and two server certificates in a temporary folder. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "dg-pki-" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "3",
    "-subj",
    "/CN=dicom-gateway test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const leaf = async (name: string, san: string) => {
    await openssl(dir, [
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    await Deno.writeTextFile(
      joinPath(dir, `${name}.ext`),
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
    );
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  await leaf("server", "DNS:localhost,IP:127.0.0.1");
  await leaf("other", "DNS:other.example");
  const read = (f: string) => Deno.readTextFile(joinPath(dir, f));
  return {
    dir,
    caFile: joinPath(dir, "ca.pem"),
    caPem: await read("ca.pem"),
    cert: await read("server.pem"),
    key: await read("server.key"),
    wrongNameCert: await read("other.pem"),
    wrongNameKey: await read("other.key"),
  };
}
