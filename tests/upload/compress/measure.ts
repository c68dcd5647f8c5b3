/**
 * Measurement, not a test: for each real image, native Pixel Data bytes against the JPEG-LS and
 * HTJ2K codestream bytes and the encoder speed on one core (encode + decode-and-compare, in
 * process, best of several runs); then, with `--big`, a 1 GiB multi-frame (CT 512 frames)
 * through the worker pool, with the peak RSS of this process.
 *
 *   deno run --allow-all tests/upload/compress/measure.ts [--big | --big-only] [--frames=2048]
 * @module
 */
import { encodeFrame } from "../../../src/upload/compress/codec.ts";
import { createCompressor } from "../../../src/upload/compress/compressor.ts";
import { transcode } from "../../../src/upload/compress/transcoder.ts";
import { REAL_IMAGES, run } from "./fixtures.ts";

const MB = 1024 * 1024;

async function realImages(): Promise<void> {
  console.log(
    "| image | syntax | pixel bytes | codestream bytes | ratio | file bytes → sent bytes | MB/s (1 core) |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const name of [...Deno.readDirSync(REAL_IMAGES)].map((e) => e.name).sort()) {
    const path = `${REAL_IMAGES}/${name}`;
    for (const syntax of ["jpeg-ls", "htj2k"] as const) {
      let best = Infinity;
      let row = "";
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const out = await transcode(path, { syntax, encoder: encodeFrame, inFlight: 1 });
        const ms = performance.now() - t0;
        if (out.kind === "original") {
          row = `| ${name} | ${syntax} | original: ${out.reason} |||||`;
          break;
        }
        if (ms < best) {
          best = ms;
          const s = out.stats;
          row = `| ${name} | ${syntax} | ${s.pixelBytes} | ${s.encodedBytes} | ${
            (s.pixelBytes / s.encodedBytes).toFixed(2)
          }× | ${(await Deno.stat(path)).size} → ${out.size} | ${
            (s.pixelBytes / MB / (ms / 1000)).toFixed(1)
          } |`;
        }
        await out.close();
      }
      console.log(row);
    }
  }
}

async function big(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dg-big-" });
  try {
    const head = `${dir}/head.dcm`;
    await Deno.copyFile(`${REAL_IMAGES}/CT_512_Hitachi_head.dcm`, head);
    const frames = Number(Deno.args.find((a) => a.startsWith("--frames="))?.slice(9) ?? 2048);
    await run("dcmodify", ["-nb", "-q", "-i", `(0028,0008)=${frames}`, head]);
    const bytes = await Deno.readFile(head);
    // Pixel Data is the last element of this file: (7FE0,0010) OW, 00 00, 32-bit length.
    const at = bytes.findLastIndex((_, i) =>
      bytes[i] === 0xE0 && bytes[i + 1] === 0x7F && bytes[i + 2] === 0x10 && bytes[i + 3] === 0x00 &&
      bytes[i + 4] === 0x4F
    );
    const frame = bytes.subarray(at + 12, at + 12 + 512 * 512 * 2);
    const header = bytes.slice(0, at + 12);
    new DataView(header.buffer).setUint32(at + 8, frames * frame.length, true);
    const path = `${dir}/big.dcm`;
    {
      using file = await Deno.open(path, { write: true, create: true });
      await file.write(header);
      for (let i = 0; i < frames; i++) {
        const f = frame.slice();
        f[i % f.length]! ^= 1; // frames differ a little
        let n = 0;
        while (n < f.length) n += await file.write(f.subarray(n));
      }
    }
    const size = (await Deno.stat(path)).size;
    let peak = Deno.memoryUsage().rss;
    const base = peak;
    const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 50);
    const compressor = createCompressor();
    const t0 = performance.now();
    const out = await compressor.prepare(path, { syntax: "jpeg-ls" });
    const prepareMs = performance.now() - t0;
    if (out.kind === "original") throw new Error(out.reason);
    let streamed = 0;
    for await (const chunk of out.stream()) streamed += chunk.length;
    clearInterval(timer);
    peak = Math.max(peak, Deno.memoryUsage().rss);
    console.log(
      `multi-frame: ${size} bytes, ${frames} frames, ${compressor.workers} worker(s): prepared in ${
        (prepareMs / 1000).toFixed(1)
      } s (${
        (frames * frame.length / MB / (prepareMs / 1000)).toFixed(1)
      } MB/s), output ${out.size} bytes (streamed ${streamed}), ratio ${
        (frames * frame.length / out.stats.encodedBytes).toFixed(2)
      }×; main-process RSS ${(base / MB).toFixed(0)} MB before, peak ${(peak / MB).toFixed(0)} MB (+${
        ((peak - base) / MB).toFixed(0)
      } MB)`,
    );
    await out.close();
    compressor.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (!Deno.args.includes("--big-only")) await realImages();
if (Deno.args.includes("--big") || Deno.args.includes("--big-only")) await big();
