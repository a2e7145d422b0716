// tether dashboard: the shell (API key, navigation, live updates) and the instance list.
// The instance page is instance.js. No build step, no dependencies: the package ships
// these files as they are.
import { renderEntities } from "./entities.js";
import { renderInstance } from "./instance.js";

export const ENDED = ["Completed", "Failed", "Terminated", "ContinuedAsNew"];
const STATUSES = ["Pending", "Running", "Completed", "Failed", "Terminated", "Suspended", "ContinuedAsNew"];
const POLL_MS = 10000;  // only when the event stream is unavailable

// The API key is taken once from ?code=, dropped from the address (and so from history
// and bookmarks), kept in this tab's sessionStorage and sent as the x-tether-key header.
const start = new URLSearchParams(location.search);
if (start.has("code")) {
  sessionStorage.setItem("tether-key", start.get("code"));
  start.delete("code");
  history.replaceState(null, "", addressOf(start));
}

export class Locked extends Error {}
export class ApiError extends Error {}

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

export function statusBadge(status) { return el("span", status, "st " + status); }

// paths are relative, so the page also works where the app is mounted below "/"
export async function api(path, options = {}) {
  const key = sessionStorage.getItem("tether-key");
  const headers = { ...(options.headers || {}) };
  if (key) headers["x-tether-key"] = key;
  const r = await fetch(path, { cache: "no-cache", ...options, headers });
  if (r.status === 401) throw new Locked(key ? "the server refused this key" : "this server needs its API key");
  return r;
}

export async function apiJSON(path, options) {
  const r = await api(path, options);
  const json = (r.headers.get("content-type") || "").startsWith("application/json");
  const body = json ? await r.json().catch(() => null) : null;
  if (!r.ok) throw new ApiError((body && body.error) || `${r.status} ${r.statusText}`);
  return { body, response: r };
}

// -- times: shown in the browser's zone, with durations -------------------------------

export function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23" });
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d) return `${d} d ${h % 24} h`;
  if (h) return `${h} h ${m % 60} min`;
  return `${m} min ${Math.floor(s % 60)} s`;
}

export function between(a, b) { return new Date(b) - new Date(a); }

// -- messages ------------------------------------------------------------------------

let toastTimer = null;
export function toast(text, isError = false) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = isError ? "error" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 8000 : 4000);
}

function askForKey(why) {
  document.getElementById("rows").replaceChildren();
  document.getElementById("instanceview").replaceChildren();
  document.getElementById("keywhy").textContent = why + " (tether serve --api-key or TETHER_API_KEY): ";
  document.getElementById("keyform").hidden = false;
  document.body.dataset.locked = "1";
}

export function failed(e) {
  if (e instanceof Locked) askForKey(e.message);
  else if (e instanceof ApiError) toast(e.message, true);
  else { console.error(e); toast(`unexpected error: ${e.message}`, true); }
}

document.getElementById("keyform").onsubmit = (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("tether-key", document.getElementById("key").value);
  document.getElementById("key").value = "";
  document.getElementById("keyform").hidden = true;
  delete document.body.dataset.locked;
  show();
  listen();
};

// -- navigation: the address holds the filters and the open instance (deep links) -----

const FILTERS = { prefix: "f-prefix", name: "f-name", status: "f-status", from: "f-from", to: "f-to", top: "f-top" };
let tokens = [null];  // continuation token of each page seen, page 0 first
let page = 0;

function addressOf(params) {
  const rest = params.toString();
  return location.pathname + (rest ? "?" + rest : "") + location.hash;
}

function filtersToForm(params) {
  for (const [name, id] of Object.entries(FILTERS)) {
    const input = document.getElementById(id);
    const value = params.get(name);
    // a page size from the address that the menu lacks (?top=5) joins the menu
    if (name === "top" && value && ![...input.options].some((o) => o.value === value)) input.add(new Option(value));
    if (value !== null) input.value = value;
    else input.value = name === "top" ? "50" : "";
  }
}

function formToParams() {
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(FILTERS)) {
    const value = document.getElementById(id).value;
    if (value && !(name === "top" && value === "50")) params.set(name, value);
  }
  return params;
}

export function openInstance(id) {
  const params = new URLSearchParams(location.search);
  params.set("instance", id);
  history.pushState(null, "", addressOf(params));
  show();
}

export function openList() {
  const params = new URLSearchParams(location.search);
  params.delete("instance");
  params.delete("view");
  history.pushState(null, "", addressOf(params));
  show();
}

// the entity list (entities.js) is ?view=entities
function openEntities() {
  history.pushState(null, "", addressOf(new URLSearchParams({ view: "entities" })));
  show();
}
document.getElementById("nav-instances").onclick = (ev) => { ev.preventDefault(); openList(); };
document.getElementById("nav-entities").onclick = (ev) => { ev.preventDefault(); openEntities(); };

window.addEventListener("popstate", () => { filtersToForm(new URLSearchParams(location.search)); restartPaging(); show(); });
document.getElementById("home").onclick = (ev) => { ev.preventDefault(); openList(); };

function filtersChanged() {
  const params = formToParams();
  const open = new URLSearchParams(location.search).get("instance");
  if (open) params.set("instance", open);
  history.replaceState(null, "", addressOf(params));
  restartPaging();
  refreshList().catch(failed);
}

function restartPaging() { tokens = [null]; page = 0; }

let typing = null;
const form = document.getElementById("filters");
form.addEventListener("input", (ev) => {
  clearTimeout(typing);
  // text fields wait for a pause in typing; the others apply at once
  typing = setTimeout(filtersChanged, ev.target.type === "search" ? 250 : 0);
});
form.addEventListener("reset", () => {
  // "clear" clears the filters; the page size is a preference, not a filter
  const top = document.getElementById("f-top").value;
  setTimeout(() => { document.getElementById("f-top").value = top; filtersChanged(); }, 0);
});
form.addEventListener("submit", (ev) => ev.preventDefault());
document.getElementById("newer").onclick = () => { if (page > 0) { page -= 1; refreshList().catch(failed); } };
document.getElementById("older").onclick = () => { if (tokens[page + 1]) { page += 1; refreshList().catch(failed); } };

// -- the list ------------------------------------------------------------------------

function queryOf(withStatus) {
  const p = formToParams();
  const q = new URLSearchParams();
  if (p.get("prefix")) q.set("instanceIdPrefix", p.get("prefix"));
  if (p.get("name")) q.set("name", p.get("name"));
  if (withStatus && p.get("status")) q.set("runtimeStatus", p.get("status"));
  // datetime-local is the browser's zone: toISOString() turns it into UTC
  if (p.get("from")) q.set("createdTimeFrom", new Date(p.get("from")).toISOString());
  if (p.get("to")) q.set("createdTimeTo", new Date(p.get("to")).toISOString());
  return q;
}

const seenNames = new Set();

async function refreshList() {
  const q = queryOf(true);
  q.set("top", document.getElementById("f-top").value);
  const headers = tokens[page] ? { "x-ms-continuation-token": tokens[page] } : {};
  const [{ body: docs, response }] = await Promise.all([
    apiJSON("api/instances?" + q, { headers }), refreshCounts()]);
  tokens.length = page + 1;
  const next = response.headers.get("x-ms-continuation-token");
  if (next) tokens.push(next);
  const rows = document.getElementById("rows");
  const now = Date.now();
  rows.replaceChildren(...docs.map((d) => listRow(d, now)));
  if (!docs.length) {
    const tr = el("tr"); const td = el("td", "no instance matches", "empty"); td.colSpan = 6;
    tr.append(td); rows.append(tr);
  }
  for (const d of docs) seenNames.add(d.name);
  document.getElementById("names").replaceChildren(...[...seenNames].sort().map((n) => { const o = el("option"); o.value = n; return o; }));
  document.getElementById("newer").disabled = page === 0;
  document.getElementById("older").disabled = !next;
  document.getElementById("pageinfo").textContent = `page ${page + 1}` + (docs.length ? ` \u00b7 ${docs.length} shown` : "");
}

function listRow(d, now) {
  const tr = el("tr");
  tr.dataset.id = d.instanceId;
  tr.tabIndex = 0;
  const status = el("td"); status.append(statusBadge(d.runtimeStatus));
  const updated = el("td", localTime(d.lastUpdatedTime));
  const ended = ENDED.includes(d.runtimeStatus);
  const took = ended ? duration(between(d.createdTime, d.lastUpdatedTime))
    : "running " + duration(now - new Date(d.createdTime));
  tr.append(el("td", d.instanceId, "id"), el("td", d.name), status,
    el("td", localTime(d.createdTime)), updated, el("td", took, ended ? "" : "muted"));
  tr.onclick = () => openInstance(d.instanceId);
  tr.onkeydown = (ev) => { if (ev.key === "Enter") openInstance(d.instanceId); };
  return tr;
}

async function refreshCounts() {
  const { body: counts } = await apiJSON("api/statusCounts?" + queryOf(false));
  const chosen = document.getElementById("f-status").value;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const chip = (label, n, status) => {
    const b = el("button", label); b.type = "button";
    b.append(el("b", String(n)));
    b.dataset.status = status;
    b.setAttribute("aria-pressed", String(chosen === status));
    b.onclick = () => { document.getElementById("f-status").value = status; filtersChanged(); };
    return b;
  };
  document.getElementById("counts").replaceChildren(chip("all", total, ""),
    ...STATUSES.filter((s) => counts[s] || s === chosen).map((s) => chip(s, counts[s], s)));
}

// -- showing the list or an instance, and keeping it current ------------------------

let showing = null;  // the instance page being shown, if any

async function show() {
  if (!document.getElementById("keyform").hidden) return;  // waiting for a key
  const id = new URLSearchParams(location.search).get("instance");
  const entities = !id && new URLSearchParams(location.search).get("view") === "entities";
  document.getElementById("listview").hidden = Boolean(id) || entities;
  const box = document.getElementById("instanceview");
  box.hidden = !id;
  const entityBox = document.getElementById("entityview");
  entityBox.hidden = !entities;
  document.body.dataset.view = id ? "instance" : entities ? "entities" : "instances";
  try {
    if (entities) {
      showing = null;
      await renderEntities(entityBox);
    } else if (id) {
      if (!showing || showing.id !== id) showing = { id, ended: false };
      const doc = await renderInstance(box, id);
      showing.ended = doc !== null && ENDED.includes(doc.runtimeStatus);
    } else {
      showing = null;
      await refreshList();
    }
  } catch (e) { failed(e); }
  document.body.dataset.loaded = "1";
}

// A change in the store: redraw what is shown, unless it is an ended instance (which
// no longer changes) or the reader is in the middle of a dialog.
function changed() {
  if (document.getElementById("confirm").open) return;
  if (showing && showing.ended) return;
  show();
}

// Server-sent events through fetch, so that the key travels in a header (EventSource
// cannot send one). The server ends a stream every few minutes; it is reopened.
async function listen() {
  const live = document.getElementById("live");
  for (;;) {
    if (!document.getElementById("keyform").hidden) return;
    try {
      const r = await api("api/events", { headers: { accept: "text/event-stream" } });
      if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
      live.textContent = "live"; live.className = "on";
      let version = null;
      for await (const ev of sseEvents(r.body)) {
        if (ev.event === "version" && version !== null && ev.data.version !== version) changed();
        if (ev.event === "changed") changed();
        version = ev.data.version;
        document.body.dataset.version = version;
      }
    } catch (e) {
      if (e instanceof Locked) { askForKey(e.message); return; }
      live.textContent = "polling"; live.className = "off";
      await new Promise((ok) => setTimeout(ok, POLL_MS));
      changed();  // without the stream, look again every POLL_MS
      continue;
    }
    await new Promise((ok) => setTimeout(ok, 500));
  }
}

async function* sseEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

filtersToForm(start);
show();
listen();
