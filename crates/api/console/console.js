// @ts-check
// The reference console: zone boards, a unit's timeline, the SLA board and the monthly QC
// chart, read through the client generated from api-spec/openapi.json (type-checked by CI).
import createClient from "./openapi-fetch.mjs";

/** @typedef {import("../../../clients/typescript/src/schema").paths} Paths */
/** @typedef {import("../../../clients/typescript/src/schema").components["schemas"]} Schemas */

const client = createClient(/** @type {{ baseUrl: string }} */ ({ baseUrl: location.origin }));
/** @type {import("openapi-fetch").Client<Paths>} */
const api = /** @type {any} */ (client);

/** @param {string} id @returns {HTMLElement} */
function el(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`no #${id}`);
  return e;
}

/** @param {string} tag @param {string} text @param {string} [cls] */
function node(tag, text, cls) {
  const e = document.createElement(tag);
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

const tokenInput = /** @type {HTMLInputElement} */ (el("token"));
tokenInput.value = new URLSearchParams(location.search).get("token") ?? localStorage.getItem("token") ?? "";

function auth() {
  localStorage.setItem("token", tokenInput.value);
  return { Authorization: `Bearer ${tokenInput.value}` };
}

/** @param {unknown} problem */
function report(problem) {
  const p = /** @type {Partial<Schemas["Problem"]>} */ (problem);
  el("status").replaceChildren(node("span", `${p.code ?? "error"}: ${p.detail ?? String(problem)}`, "error"));
}

async function zones() {
  const { data, error } = await api.GET("/v1/zones", { headers: auth() });
  if (error || !data) return report(error);
  const boards = await Promise.all(
    data.map(async (z) => {
      const ledger = await api.GET("/v1/zones/{zone}", {
        params: { path: { zone: z.zone } },
        headers: auth(),
      });
      /** @type {Schemas["ZoneLedger"] | undefined} */
      const l = ledger.data;
      const box = node("div", "", "zone");
      box.dataset.zone = z.zone;
      box.append(node("h3", `${z.zone.replaceAll("_", " ")} (${z.occupants.length})`));
      const list = document.createElement("ul");
      for (const serial of l?.occupants ?? []) list.append(node("li", serial));
      box.append(list, node("small", `${l?.lines.length ?? 0} ledger lines`));
      return box;
    }),
  );
  el("zones").replaceChildren(...boards);
}

/** @param {string} serial */
async function timeline(serial) {
  const { data, error } = await api.GET("/v1/units/{serial}/events", {
    params: { path: { serial } },
    headers: auth(),
  });
  if (error || !data) return report(error);
  el("timeline").replaceChildren(
    ...data.map((e) => node("li", `${e.occurred_at.slice(0, 16).replace("T", " ")}  ${e.type}  (${e.actor.person_id})`)),
  );
}

async function sla() {
  const { data, error } = await api.GET("/v1/timers", {
    params: { query: { limit: 200 } },
    headers: auth(),
  });
  if (error || !data) return report(error);
  const rows = data.items.map((/** @type {Schemas["TimerStatus"]} */ t) => {
    const tr = document.createElement("tr");
    tr.className = t.evaluation.state;
    tr.dataset.timer = t.timer.timer_id;
    for (const text of [
      t.timer.timer_id,
      t.timer.rule,
      `${t.timer.responsible.person_id} (${t.department})`,
      t.evaluation.deadline?.slice(0, 16).replace("T", " ") ?? "paused",
      t.evaluation.state.replace("_", " ") + (t.evaluation.days_late ? `, ${t.evaluation.days_late} d late` : ""),
    ]) {
      tr.append(node("td", text));
    }
    return tr;
  });
  el("sla").querySelector("tbody")?.replaceChildren(...rows);
}

async function qcChart() {
  // The SVG is built by the server from escaped values; the console shows it as it is.
  const res = await fetch("/v1/reports/qc-monthly?format=svg", { headers: auth() });
  if (!res.ok) return report(await res.json());
  el("qc-chart").innerHTML = await res.text();
}

async function refresh() {
  el("status").replaceChildren();
  await Promise.all([zones(), sla(), qcChart()]);
  const serial = /** @type {HTMLInputElement} */ (el("serial")).value;
  if (serial) await timeline(serial);
  document.body.dataset.loaded = "true";
}

el("refresh").addEventListener("click", () => void refresh());
el("unit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void refresh();
});
const initialSerial = new URLSearchParams(location.search).get("serial");
if (initialSerial) /** @type {HTMLInputElement} */ (el("serial")).value = initialSerial;
void refresh();
