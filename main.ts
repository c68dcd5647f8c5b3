/**
 * dicom-gateway: receives DICOM studies on port 4104 and uploads them over
 * DICOMweb STOW-RS. This file is the entry point for `deno run` and `deno compile`.
 * @module
 */
import { runCli } from "./src/cli/main.ts";

if (import.meta.main) Deno.exit(await runCli(Deno.args));
