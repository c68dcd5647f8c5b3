/**
 * The status page, rendered on the server (no build step, no external assets). Every value from
 * the wire (patient names, AE titles, reasons, URLs) goes through the {@link html} template,
 * which escapes anything that is not already {@link SafeHtml}. The live part of the page is one
 * fragment ({@link renderLive}) that a small inline script fetches every 2 seconds from `/live`,
 * so there is one renderer and one place where escaping happens. The upload settings form sits
 * outside that fragment so typing is never interrupted; secrets are write-only.
 * @module
 */
import {
  formatBytes,
  headline,
  isStudyComplete,
  shortTime,
  type StatusSnapshot,
  type StudySummary,
  toApiStatus,
  uploadStateText,
  verificationText,
} from "./api.ts";
import { addressKindText, kindOf } from "../net/interfaces.ts";
import { secretOfKind } from "../config/upload_settings.ts";
import type { UploadCompressionView } from "./api.ts";

/** Markup that is already safe to insert. */
export class SafeHtml {
  /** @param value markup built only by {@link html} or from constants */
  constructor(readonly value: string) {}
  /** The markup. */
  toString(): string {
    return this.value;
  }
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  )
    .replaceAll("'", "&#39;");
}

function part(v: unknown): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(part).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(String(v));
}

/** Template tag: interpolated values are escaped unless they are {@link SafeHtml} (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    out += part(v) + (strings[i + 1] ?? "");
  });
  return new SafeHtml(out);
}

const AUTH_LABELS: [string, string][] = [
  ["none", "No sign-in"],
  ["basic", "User name and password"],
  ["bearer", "Access token"],
  ["header", "API key in a header"],
  ["oauth2", "OAuth2 client credentials (e.g. Azure)"],
];

function formatStudyDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

function progressBar(t: Pick<StudySummary, "received" | "delivered" | "failed">): SafeHtml {
  const total = Math.max(t.received, 1);
  const done = Math.round((t.delivered / total) * 100);
  const bad = Math.round((t.failed / total) * 100);
  return html`
    <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="${t.received}" aria-valuenow="${t
      .delivered}"
      aria-label="${t.delivered} of ${t
        .received} uploaded"><span class="done" style="width:${done}%"></span><span class="bad" style="width:${bad}%"></span></div>
  `;
}

/** " · 118 verified in the archive" (" — complete" when all are), and the "missing in the archive" marker. */
function verificationCell(t: StudySummary, mode: "query" | "response"): SafeHtml | string {
  if (t.verified === undefined) return "";
  const done = isStudyComplete(t, mode) ? " — complete" : "";
  const missing = t.missingInArchive ?? 0;
  return html`
    · <span class="n-verified">${verificationText(t, mode)}${done}</span>${missing > 0
      ? html`
        · <span class="n-missing error">${missing} missing in the archive</span>
      `
      : ""}
  `;
}

function studyRows(s: StatusSnapshot, now: Date): SafeHtml {
  if (s.studies.length === 0) {
    return html`
      <tr>
        <td colspan="8" class="empty">No studies received yet. Send one from the modality to test.</td>
      </tr>
    `;
  }
  return html`${
    s.studies.map((t) =>
      html`
        <tr class="study" data-study="${t.studyInstanceUid}">
          <td>${shortTime(t.lastReceivedAt, now)}</td>
          <td>${t.patientName || "—"}</td>
          <td>${t.modality}</td>
          <td>${formatStudyDate(t.studyDate)}</td>
          <td>${t.description}<div class="uid">${t.studyInstanceUid}</div></td>
          <td>${t.callingAeTitle}</td>
          <td
            class="progress">${progressBar(t)}<div class="counts"><span class="n-received">${t
              .received} received</span>, <span class="n-delivered">${t
              .delivered} uploaded</span>${t.failed > 0
              ? html`, <span class="n-failed">${t.failed} failed</span>`
              : ""}${t.pending > 0
              ? html`, <span class="n-pending">${t.pending} waiting</span>`
              : ""}${verificationCell(t, s.upload.verification?.mode ?? "query")}</div>${t.lastError
              ? html`<div class="error">${t.lastError}</div>`
              : ""}</td>
          <td>${t.failed > 0
            ? html`<button type="button" data-action="retry" data-study="${t.studyInstanceUid}">Retry</button>`
            : ""}</td>
        </tr>
      `
    )
  }`;
}

const SYNTAX_NAMES: Record<string, string> = { "jpeg-ls": "JPEG-LS lossless", htj2k: "HTJ2K lossless" };

/** The "Compression" rows of the Central server box (issue 11): setting, savings, refusals, originals. */
function compressionRows(c: UploadCompressionView | undefined): SafeHtml | string {
  if (c === undefined) return "";
  const name = SYNTAX_NAMES[c.setting] ?? "off";
  const ratio = c.bytesOut > 0 ? `, ${(c.bytesIn / c.bytesOut).toFixed(1)}× fewer bytes` : "";
  const originals = Object.entries(c.original).filter(([cause]) => cause !== "off");
  return html`
    <dt>Compression</dt>
    <dd id="upload-compression">${name}${c.compressed > 0
      ? ` (${c.compressed} images compressed${ratio})`
      : ""}</dd>
    ${c.refused.map((r) =>
      html`
        <dt>Refused</dt>
        <dd class="error"
          id="upload-compression-refused">The server does not take ${SYNTAX_NAMES[r.syntax] ??
            r.syntax}: images go uncompressed until the upload settings change. ${r.reason}</dd>
      `
    )}
    ${originals.length > 0
      ? html`
        <dt>Sent as received</dt>
        <dd id="upload-compression-originals">${originals.map(([cause, n]) => `${n} (${cause})`).join(
          ", ",
        )}</dd>
      `
      : ""}
  `;
}

function failureRows(s: StatusSnapshot, now: Date): SafeHtml {
  return html`${
    s.failures.map((f) =>
      html`
        <tr class="failure">
          <td>${shortTime(f.at, now)}</td>
          <td class="reason">${f.reason}</td>
          <td>
            <div class="uid">Study ${f.studyInstanceUid}</div>
            <div class="uid">Image ${f.sopInstanceUid}</div>
          </td>
        </tr>
      `
    )
  }`;
}

/** The part of the page that refreshes every 2 seconds. */
export function renderLive(snapshot: StatusSnapshot, now: Date = new Date()): SafeHtml {
  const s = toApiStatus(snapshot);
  const head = headline(s, now);
  const usable = s.modality.addresses.filter((a) => !a.linkLocal);
  const linkLocal = s.modality.addresses.filter((a) => a.linkLocal);
  const u = s.upload;
  const diskPct = s.disk.freeBytes !== null && s.disk.totalBytes
    ? Math.round((1 - s.disk.freeBytes / s.disk.totalBytes) * 100)
    : null;
  return html`
    <section id="headline" class="headline ${head.level}" data-level="${head.level}">
      <h1>${head.title}</h1>
      <p>${head.detail}</p>
    </section>
    <div class="cards">
      <section class="card" id="modality">
        <h2>Settings for the modality</h2>
        <p
          class="hint">Enter these as the DICOM destination ("C-STORE SCP") on each modality or PACS, then press "Verify" / "C-ECHO" there.</p>
        <dl>
          <dt>AE title</dt>
          <dd class="big" id="ae-title">${s.modality.aeTitle}</dd>
          <dt>IP address</dt>
          <dd class="big" id="ip-addresses">${usable.length > 0
            ? usable.map((a) =>
              html`
                <div class="ip"
                  data-kind="${kindOf(a)}">${a.address} <span class="iface">(${a
                    .interfaceName}, ${addressKindText(kindOf(a))})</span></div>
              `
            )
            : html`<div class="warn">None found: connect this PC to the clinic network.</div>`}${linkLocal
            .map((a) =>
              html`
                <div class="iface"
                  data-kind="link-local">${a.address} (${a
                    .interfaceName}): link-local, no address from the network (DHCP); do not use</div>
              `
            )}</dd>
          <dt>Port</dt>
          <dd class="big" id="dicom-port">${s.modality.port}</dd>
        </dl>
        <p
          class="hint">Give this PC a fixed IP address (a static IP, or a DHCP reservation on the router) so the address above never changes. Computer name: ${s
            .modality.hostname}.</p>
      </section>
      <section class="card" id="queue">
        <h2>Images on this PC</h2>
        <dl class="numbers">
          <dt>Waiting to upload</dt>
          <dd id="q-pending">${s.queue.pending}</dd>
          <dt>Uploading now</dt>
          <dd id="q-sending">${s.queue.sending}</dd>
          <dt>Delivered</dt>
          <dd id="q-delivered">${s.queue.delivered}</dd>
          <dt>Failed</dt>
          <dd id="q-failed" class="${s.queue.failed > 0 ? "error" : ""}">${s.queue.failed}</dd>
        </dl>
        <p
          class="hint">${formatBytes(s.queue.bytesPending)} waiting. Connections: ${s.associations
            .active} open, ${s.associations.total} since start, ${s.associations.rejected} refused.</p>
      </section>
      <section class="card" id="upload">
        <h2>Central server</h2>
        <dl>
          <dt>Address</dt><dd id="upload-url">${u.configured ? u.url : "Not set up"}</dd>
          <dt>State</dt><dd id="upload-state" class="state-${u.state}">${uploadStateText(
            u.state,
          )}${u.inFlight > 0 ? ` (${u.inFlight} requests in flight)` : ""}</dd>
          <dt>Last success</dt><dd>${shortTime(u.lastSuccessAt, now) || "never"}</dd>
          ${u.lastError
            ? html`
              <dt>Last error</dt>
              <dd class="error" id="upload-error">${u.lastError} <span class="muted">${shortTime(
                u.lastErrorAt,
                now,
              )}</span></dd>
            `
            : ""}
          ${compressionRows(u.compression)}
          ${u.nextRetryAt
            ? html`
              <dt>Next attempt</dt>
              <dd>${shortTime(u.nextRetryAt, now)}</dd>
            `
            : ""}
        </dl>
        <button type="button" data-action="test-connection">Test connection</button>
      </section>
      <section class="card" id="disk">
        <h2>Disk</h2>
        <p>${s.disk.freeBytes !== null && s.disk.totalBytes !== null
          ? html`<span id="disk-free">${formatBytes(s.disk.freeBytes)} free</span> of ${
            formatBytes(s.disk.totalBytes)
          }`
          : "Free space unknown"}</p>
        ${diskPct !== null
          ? html`
            <div class="bar disk"
              aria-label="${diskPct}% used"><span class="${diskPct > 90
                ? "bad"
                : "done"}" style="width:${diskPct}%"></span></div>
          `
          : ""}
        <p class="hint">Images are kept in ${s.disk.dataDir}</p>
      </section>
    </div>
    <section class="wide" id="studies">
      <h2>Recent studies</h2>
      <table>
        <thead>
          <tr>
            <th>Last image</th>
            <th>Patient</th>
            <th>Modality</th>
            <th>Study date</th>
            <th>Description</th>
            <th>From</th>
            <th>Upload</th>
            <th></th>
          </tr>
        </thead>
        <tbody>${studyRows(s, now)}</tbody>
      </table>
    </section>
    <section class="wide" id="failures">
      <h2>Failures</h2>
      ${s.failures.length === 0
        ? html`<p class="empty">None: no image was refused by the central server.</p>`
        : html`
          <p>The central server refused these images. Fix the cause (the reason is the server's own words), then press the button: they are sent again.</p>
          <button type="button" data-action="retry" class="primary">Retry failed</button>
          <table>
            <thead>
              <tr>
                <th>When</th>
                <th>Reason</th>
                <th>Which</th>
              </tr>
            </thead>
            <tbody>${failureRows(s, now)}</tbody>
          </table>
        `}
    </section>
    <section class="wide" id="alerts">
      <h2>Alerts</h2>
      ${s.alerts.length === 0 ? html`<p class="empty">None so far.</p>` : html`
        <table>
          <thead>
            <tr>
              <th>When</th>
              <th>Alert</th>
              <th>Sent</th>
            </tr>
          </thead>
          <tbody>${s.alerts.map((a) =>
            html`
              <tr class="alert ${a.phase}" data-kind="${a.kind}">
                <td>${shortTime(a.at, now)}</td>
                <td class="${a.phase === "begins" ? "error" : ""}">${a.phase === "clears"
                  ? "Resolved: "
                  : ""}${a.title}</td>
                <td>${a.delivery === "sent"
                  ? "sent"
                  : a.delivery === "waiting"
                  ? "waiting (retried until the webhook answers)"
                  : "no webhook set up"}</td>
              </tr>
            `
          )}</tbody>
        </table>
      `}
    </section>
    <p
      class="footer">dicom-gateway ${s.version}, running since ${shortTime(
        s.startedAt,
        now,
      )}. This page refreshes every 2 seconds and can only be opened on this PC.</p>
  `;
}

function settingsForm(s: StatusSnapshot): SafeHtml {
  const v = toApiStatus(s).settings;
  const fromEnv = v.secretFromEnvironment ?? "";
  const secretHint = v.secretStored ? "stored; leave empty to keep it" : "";
  // A secret set in the environment wins: said beside its field (the form never writes one then).
  const envNote = (kinds: string) =>
    fromEnv !== "" && kinds === v.authKind
      ? html`
        <p class="hint env-secret"
          data-kinds="${kinds}">The ${secretOfKind(kinds)?.words ??
            "secret"} comes from the environment variable ${fromEnv}, which wins over this form: it is not saved in the settings file. Type it only to confirm a new server address or sign-in method.</p>
      `
      : "";
  const field = (name: string, label: string, value: string, kinds: string, extra = "") =>
    html`
      <label
        data-kinds="${kinds}"><span>${label}</span><input name="${name}" value="${value}" ${new SafeHtml(
          extra,
        )} autocomplete="off"></label>
    `;
  const secret = (name: string, label: string, kinds: string) => {
    const hint = fromEnv !== "" && kinds === v.authKind ? `set in ${fromEnv}` : secretHint;
    return html`
      <label
        data-kinds="${kinds}"><span>${label}</span><input name="${name}" type="password" value="" placeholder="${hint}" data-placeholder="${hint}" autocomplete="new-password"></label>
      ${envNote(kinds)}
    `;
  };
  return html`
    <section class="wide" id="settings">
      <h2>Upload destination</h2>
      <p
        class="hint">The central archive's DICOMweb address and how to sign in. Saved into dicom-gateway.toml. Passwords, tokens and keys are never shown again, and never go along to another server: after a change of the address (or token address) to another server, or of the sign-in method, type the secret again.</p>
      <form id="settings-form" autocomplete="off" data-url="${v.url}" data-token-url="${v.tokenUrl}"
        data-kind="${v
          .authKind}">
        ${field(
          "url",
          "DICOMweb address",
          v.url,
          "all",
          'placeholder="https://pacs.example.org/dicom-web" type="url"',
        )}
        <label><span>Sign-in</span><select name="authKind">${AUTH_LABELS.map(([k, label]) =>
          html`<option value="${k}" ${k === v.authKind ? "selected" : ""}>${label}</option>`
        )}</select></label>
        ${field("username", "User name", v.username, "basic")}
        ${secret("password", "Password", "basic")}
        ${secret("token", "Access token", "bearer")}
        ${field("headerName", "Header name", v.headerName, "header", 'placeholder="X-API-Key"')}
        ${secret("headerValue", "API key", "header")}
        ${field("tokenUrl", "Token address", v.tokenUrl, "oauth2")}
        ${field("clientId", "Client id", v.clientId, "oauth2")}
        ${secret("clientSecret", "Client secret", "oauth2")}
        ${field("scope", "Scope", v.scope, "oauth2")}
        ${field("caFile", "Private CA certificate file (optional)", v.caFile, "all", 'placeholder="ca.pem"')}
        <button type="submit" class="primary">Save</button>
      </form>
    </section>
  `;
}

const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,"Segoe UI",Roboto,Arial,sans-serif;margin:0;padding:16px 20px 32px;background:#f3f5f7;color:#1d2730}
header{display:flex;justify-content:space-between;align-items:baseline;margin-bottom:10px}
header .name{font-weight:600;font-size:18px}
.muted,.hint{color:#5b6770}.hint{font-size:13px}
.headline{border-radius:10px;padding:14px 20px;margin-bottom:14px;color:#fff}
.headline h1{font-size:26px;margin:0 0 4px}.headline p{margin:0;font-size:15px}
.headline.green{background:#1e7d3a}.headline.amber{background:#b86b00}.headline.red{background:#b3261e}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(270px,1fr));gap:14px;margin-bottom:14px}
.card,.wide{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.wide{margin-bottom:14px}
h2{font-size:16px;margin:0 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:8px 0}
dt{color:#5b6770}dd{margin:0;min-width:0;overflow-wrap:anywhere}
dd .iface{font:13px system-ui,"Segoe UI",Roboto,Arial,sans-serif;color:#5b6770}
dd.big{font-size:20px;font-weight:600;font-family:ui-monospace,Consolas,monospace}
.numbers dd{font-weight:600}
.error{color:#b3261e}.warn{color:#b86b00}
table{width:100%;border-collapse:collapse;font-size:14px}
th{text-align:left;color:#5b6770;font-weight:500;border-bottom:1px solid #dde3e8;padding:4px 6px}
td{border-bottom:1px solid #eef1f4;padding:6px;vertical-align:top}
.uid{font:11px ui-monospace,Consolas,monospace;color:#7a858e;word-break:break-all}
.bar{height:10px;background:#e4e8ec;border-radius:5px;overflow:hidden;display:flex;min-width:120px}
.bar .done{background:#1e7d3a}.bar .bad{background:#b3261e}
.counts{font-size:12px;color:#5b6770;margin-top:3px}
.empty{color:#5b6770;font-style:italic}
button{font:inherit;padding:6px 14px;border-radius:6px;border:1px solid #8a99a6;background:#fff;cursor:pointer}
button.primary{background:#0b5cad;border-color:#0b5cad;color:#fff}
button:disabled{opacity:.6;cursor:wait}
form label{display:grid;grid-template-columns:260px 1fr;align-items:center;gap:10px;margin:6px 0}
form input,form select{font:inherit;padding:5px 8px;border:1px solid #b8c2cb;border-radius:6px;width:100%}
form label[hidden]{display:none}
#notice{position:sticky;top:0;z-index:2;margin-bottom:10px}
#notice p{margin:0;padding:10px 16px;border-radius:8px;background:#e7f1fb;border:1px solid #9ec3ea}
#notice p.bad{background:#fbe9e7;border-color:#e6a39b}
.footer{font-size:12px;color:#7a858e}
`;

const SCRIPT = `
(() => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const live = document.getElementById("live");
  const notice = document.getElementById("notice");
  function say(text, ok) {
    notice.innerHTML = "";
    const p = document.createElement("p");
    p.textContent = text;
    if (!ok) p.className = "bad";
    notice.appendChild(p);
  }
  async function post(path, body) {
    try {
      const r = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify(body || {}),
      });
      const j = await r.json().catch(() => ({ ok: false, message: r.status + " " + r.statusText }));
      return { ok: r.ok && j.ok !== false, message: j.message || "" };
    } catch (e) {
      return { ok: false, message: "The gateway is not answering. Is its window still open?" };
    }
  }
  let stale = false;
  let busy = false;
  // No answer for a poll (refused, or nothing within 4 s): the headline itself turns red, so the
  // page never stays green for a gateway that stopped. The next answer puts the real one back.
  function notRunning() {
    const head = document.getElementById("headline");
    if (!head) return;
    head.className = "headline red";
    head.dataset.level = "red";
    head.innerHTML = "";
    const h1 = document.createElement("h1");
    h1.textContent = "The gateway is not running";
    const p = document.createElement("p");
    p.textContent = "This page got no answer from it at " + new Date().toLocaleTimeString() +
      ". Start dicom-gateway again (or look for its window). Modalities cannot send until it runs. " +
      "This page keeps trying every 2 seconds.";
    head.append(h1, p);
  }
  async function refresh() {
    if (busy) return;
    busy = true;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 4000);
    try {
      const r = await fetch("/live", { cache: "no-store", signal: controller.signal });
      if (!r.ok) throw new Error(String(r.status));
      live.innerHTML = await r.text();
      if (stale) { notice.innerHTML = ""; stale = false; }
    } catch (e) {
      stale = true;
      notRunning();
      say("The gateway is not answering. Is its window still open? This page keeps trying.", false);
    } finally {
      clearTimeout(timer);
      busy = false;
    }
  }
  setInterval(refresh, 2000);
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    b.disabled = true;
    try {
      if (b.dataset.action === "retry") {
        const r = await post("/api/retry", b.dataset.study ? { studyInstanceUid: b.dataset.study } : {});
        say(r.message, r.ok);
      } else if (b.dataset.action === "test-connection") {
        say("Testing the connection to the central server…", true);
        const r = await post("/api/test-connection");
        say(r.message, r.ok);
      }
      await refresh();
    } finally {
      b.disabled = false;
    }
  });
  const form = document.getElementById("settings-form");
  const kind = form.elements.namedItem("authKind");
  function showFields() {
    for (const l of form.querySelectorAll("[data-kinds]")) {
      const kinds = l.dataset.kinds;
      l.hidden = !(kinds === "all" || kinds.split(" ").includes(kind.value));
    }
  }
  // The server refuses a new origin (scheme, host, port) or sign-in method without the secret
  // typed again (and says so in words); the secret fields say it before the form is sent.
  const stored = { url: form.dataset.url, tokenUrl: form.dataset.tokenUrl, kind: form.dataset.kind };
  function originOf(u) {
    try {
      const x = new URL(u.trim());
      return x.protocol + "//" + x.hostname + ":" + (x.port || (x.protocol === "https:" ? "443" : "80"));
    } catch (e) {
      return u.trim();
    }
  }
  function markSecrets() {
    const value = (n) => form.elements.namedItem(n).value;
    const changed = kind.value !== stored.kind || originOf(value("url")) !== originOf(stored.url) ||
      (kind.value === "oauth2" && originOf(value("tokenUrl")) !== originOf(stored.tokenUrl));
    for (const input of form.querySelectorAll("input[type=password]")) {
      input.placeholder = changed ? "type it again: new server or sign-in method" : input.dataset.placeholder;
    }
  }
  kind.addEventListener("change", () => { showFields(); markSecrets(); });
  form.addEventListener("input", markSecrets);
  showFields();
  markSecrets();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = {};
    for (const [k, v] of new FormData(form)) data[k] = String(v);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const r = await post("/api/settings", data);
    button.disabled = false;
    say(r.message, r.ok);
    if (r.ok) {
      for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
      stored.url = data.url || "";
      stored.tokenUrl = data.tokenUrl || "";
      stored.kind = data.authKind;
      markSecrets();
    }
    await refresh();
  });
})();
`;

/** The whole page. `nonce` allows the inline script under the Content-Security-Policy. */
export function renderPage(
  snapshot: StatusSnapshot,
  options: { csrfToken: string; nonce: string; now?: Date },
): string {
  const s = toApiStatus(snapshot);
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="csrf-token" content="${options.csrfToken}">
        <title>dicom-gateway: ${s.modality.aeTitle}</title>
        <style nonce="${options.nonce}">${new SafeHtml(STYLE)}</style>
      </head>
      <body>
    <header><span class="name">dicom-gateway</span><span class="muted">${s.modality.hostname}</span></header>
    <div id="notice" role="status" aria-live="polite"></div>
    <main id="live">${renderLive(snapshot, options.now)}</main>
    ${settingsForm(snapshot)}
    <script nonce="${options.nonce}">${new SafeHtml(SCRIPT)}</script>
      </body>
    </html>
  `.value;
}
