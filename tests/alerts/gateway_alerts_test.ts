/**
 * The running gateway (`main.ts`) with `[alerts]`: killed (SIGKILL, as a crash or power cut), the
 * next start sends "not stopped cleanly" to the webhook; after a clean stop (SIGINT), the next
 * start sends nothing. The webhook token comes from the environment and never reaches the output.
 */
import { assert, assertEquals } from "../support/assert.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function startGateway(dir: string, hookUrl: string) {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "--data-dir",
      `${dir}/data`,
      "--log-dir",
      "",
      "--port",
      String(port),
      "--status-port",
      "0",
      "--alerts-webhook-url",
      hookUrl,
      "--alerts-header-name",
      "X-Alert-Token",
    ],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DICOM_GATEWAY_ALERTS_HEADER_VALUE: "very-secret-token" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("Press Ctrl+C")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  return {
    child,
    banner: stdout,
    async finish(): Promise<string> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += value;
      }
      await child.status;
      return stdout + (await stderr);
    },
  };
}

Deno.test("gateway: a start after SIGKILL sends 'not stopped cleanly' to the webhook; after SIGINT nothing", async () => {
  const dir = await Deno.makeTempDir();
  const got: { event: string; text: string; token: string | null }[] = [];
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    got.push({ event: body.event, text: body.text, token: req.headers.get("x-alert-token") });
    return new Response("ok");
  });
  const hookUrl = `http://127.0.0.1:${hook.addr.port}/hook`;
  try {
    const first = await startGateway(dir, hookUrl);
    assert(first.banner.includes(`Alerts to:    http://127.0.0.1:${hook.addr.port} (webhook)`), first.banner);
    first.child.kill("SIGKILL");
    await first.finish();
    assertEquals(got, [], "a first start reports nothing");

    const second = await startGateway(dir, hookUrl);
    const deadline = Date.now() + 10_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assertEquals(got.map((g) => g.event), ["unclean-stop"]);
    assertEquals(got[0]!.token, "very-secret-token");
    assert(got[0]!.text.includes("was not stopped cleanly"), got[0]!.text);
    second.child.kill("SIGINT");
    const output = await second.finish();
    assert(!output.includes("very-secret-token"), "the token never reaches the window");

    const third = await startGateway(dir, hookUrl);
    await new Promise((r) => setTimeout(r, 500));
    third.child.kill("SIGINT");
    await third.finish();
    assertEquals(got.length, 1, "a start after a clean stop sends nothing");
  } finally {
    await hook.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
