// End-to-end test of the reference console: starts the server on a fresh log, records a few
// returns, a repair and two service requests (one of them late), then opens /console/ in
// headless Chromium and checks the zone boards, the unit timeline, the SLA board (breaches in
// red) and the QC chart. Writes screenshots/console.png.
//
//   node console.e2e.mjs        (REPAIRLEDGER_BIN, CHROMIUM override the binaries' paths)
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const bin = process.env.REPAIRLEDGER_BIN ?? join(root, "target/debug/repairledger");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

async function freePort() {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const data = mkdtempSync(join(tmpdir(), "repairledger-console-"));
const server = spawn(bin, ["serve"], {
  cwd: root,
  env: { ...process.env, REPAIRLEDGER_BIND: `127.0.0.1:${port}`, REPAIRLEDGER_DATA: join(data, "log") },
  stdio: ["ignore", "inherit", "inherit"],
});

const tokens = {
  "li.fr": "dev-token-field-receiver",
  "wang.as": "dev-token-after-sales",
  "chen.prod": "dev-token-production",
  "liu.rep": "dev-token-repair-dept",
  audit: "dev-token-auditor-readonly",
};

async function call(who, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${tokens[who]}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function openReturn(serial) {
  return call("li.fr", "POST", `/v1/units/${serial}/returns`, {
    return_id: `R-${serial}`,
    mode: "carried",
    customer: { customer_id: "CUST-017", name: "Huadong Power Plant" },
    product: { model: "RD-40", production_date: "2025-09-01", warranty_end: "2027-09-01", batch: "B-1" },
    form: {
      fault_symptoms: "channel 2 gives no output after warm-up",
      site: "control room 3",
      circumstances: "failed during the morning load test",
      filled_by: "li.fr",
      unverifiable_reason: null,
    },
    customer_signature: {
      name: "Zhang San",
      signed_at: "2026-03-02T08:00:00Z",
      evidence: { kind: "typed", reason: "the customer signed the paper handover form No. 17" },
    },
    // Rule 3: a carried return records when the field receiver came back to the factory.
    receiver_returned_at: new Date(Date.now() - 3600_000).toISOString(),
    customer_due_date: null,
  });
}

async function register(serial) {
  await openReturn(serial);
  await call("li.fr", "POST", `/v1/units/${serial}/handovers`, { handover_id: `H-${serial}-1`, to_person_id: "wang.as", plan_id: null });
  await call("wang.as", "POST", `/v1/units/${serial}/handovers/H-${serial}-1/signature`, {});
  await call("wang.as", "POST", `/v1/units/${serial}/registration`, {});
}

let browser;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 300) fail("the server did not become ready");
    await new Promise((r) => setTimeout(r, 100));
  }
  // A unit repaired for a product fault (the QC chart), one waiting in its zone (the boards).
  await register("SN-C1");
  await call("wang.as", "POST", "/v1/repair-plans", { plan_id: "P-C1", serials: ["SN-C1"], notes: "console demo" });
  await call("chen.prod", "POST", "/v1/repair-plans/P-C1/co-signature", {});
  await call("wang.as", "POST", "/v1/repair-plans/P-C1/issue", {});
  await call("wang.as", "POST", "/v1/units/SN-C1/handovers", { handover_id: "H-SN-C1-2", to_person_id: "liu.rep", plan_id: "P-C1" });
  await call("liu.rep", "POST", "/v1/units/SN-C1/handovers/H-SN-C1-2/signature", {});
  await call("liu.rep", "POST", "/v1/units/SN-C1/fault-confirmation", {
    fault_found: true,
    cause: "component_quality",
    analysis: "electrolytic capacitor C12 dried out",
  });
  await register("SN-C2");
  // A request taken three days ago and never relayed: its relay deadline is breached.
  const threeDaysAgo = new Date(Date.now() - 3 * 24 * 3600 * 1000).toISOString();
  await call("li.fr", "POST", "/v1/service-requests", {
    request_id: "SR-LATE",
    kind: "repair",
    category: "own",
    customer: { customer_id: "CUST-017", name: "Huadong Power Plant" },
    serial: "SN-C2",
    model: "RD-40",
    site: "control room 3",
    distance_km: 120,
    description: "no output after warm-up",
    occurred_at: threeDaysAgo,
  });

  browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/console/?token=${tokens.audit}&serial=SN-C1`);
  await page.waitForSelector("body[data-loaded=true]", { timeout: 15000 });

  const waiting = await page.locator('.zone[data-zone="awaiting_repair"] li').allTextContents();
  if (!waiting.includes("SN-C2")) fail(`awaiting-repair board shows ${JSON.stringify(waiting)}`);
  const timeline = await page.locator("#timeline li").allTextContents();
  if (!timeline.some((t) => t.includes("FaultConfirmed"))) fail(`timeline: ${JSON.stringify(timeline)}`);
  const breached = page.locator('#sla tr.breached[data-timer="SR-LATE.relay.1"]');
  if ((await breached.count()) !== 1) fail("the late relay is not on the SLA board as breached");
  const colour = await breached.locator("td").first().evaluate((td) => getComputedStyle(td).backgroundColor);
  if (colour !== "rgb(253, 226, 225)") fail(`a breach is not shown in red: ${colour}`);
  const chart = await page.locator("#qc-chart svg text").allTextContents();
  if (!chart.some((t) => t.includes("component quality"))) fail(`QC chart: ${JSON.stringify(chart)}`);
  if (errors.length) fail(`page errors: ${errors.join("; ")}`);

  mkdirSync(join(here, "screenshots"), { recursive: true });
  const shot = join(here, "screenshots", "console.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`console e2e passed; screenshot: ${shot}`);
} finally {
  await browser?.close();
  server.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
