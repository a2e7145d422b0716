// tether dashboard: one instance's page. Its status and actions, input, output and
// custom status as collapsible JSON, the step graph (zoom and pan), and the history as
// a table with the variables of every checkpoint. Redrawn in place on live updates:
// what the reader opened, scrolled or zoomed stays as it was.
import { ENDED, api, apiJSON, between, duration, el, failed, localTime, openInstance, openList, statusBadge, toast } from "./dashboard.js";

let page = null;  // {id, root, parts..., lastUpdated, seqs} of the page on screen

export async function renderInstance(box, id) {
  const r = await api("api/instances/" + encodeURIComponent(id) + "?showHistory=true");
  const doc = await r.json().catch(() => ({}));
  if (r.status === 404 || !r.ok) {
    page = null;
    const back = el("a", "\u2190 instances"); back.href = "./"; back.id = "back";
    back.onclick = (ev) => { ev.preventDefault(); openList(); };
    box.replaceChildren(back, el("p", r.status === 404 ? `instance ${id} is gone (purged, or never created)` : doc.error, "error"));
    return null;
  }
  // a new createdTime under the same id: restarted in place, a new history from seq 0
  if (!page || page.id !== id || page.created !== doc.createdTime || !box.contains(page.root)) {
    page = build(box, id);
    page.created = doc.createdTime;
  }
  if (page.lastUpdated !== doc.lastUpdatedTime || page.status !== doc.runtimeStatus) update(page, doc);
  return doc;
}

function build(box, id) {
  const p = { id, seqs: new Set(), tasks: new Map(), attempts: new Map(), json: {} };
  p.root = el("div");
  const back = el("a", "\u2190 instances"); back.href = "./"; back.id = "back";
  back.onclick = (ev) => { ev.preventDefault(); openList(); };
  p.badge = el("span");
  const title = el("div", undefined, "title"); title.append(el("h2", id), p.badge);
  p.facts = el("dl", undefined, "facts");
  p.actions = el("div", undefined, "actions");
  p.panels = el("div", undefined, "panels");
  p.failure = section("failure");
  p.failure.dataset.part = "failure";
  p.failure.hidden = true;
  p.graph = graphPanel(id);
  const timeline = el("table", undefined, "timeline");
  const head = el("tr");
  for (const h of ["time", "event", "step", "activity", "input", "result or error", "duration", "attempt"]) head.append(el("th", h));
  const thead = el("thead"); thead.append(head);
  p.events = el("tbody");
  timeline.append(thead, p.events);
  const historySection = section("history", timeline);
  historySection.id = "history";
  p.root.append(back, title, p.facts, p.actions, p.failure, p.panels, section("step graph", p.graph.root), historySection);
  box.replaceChildren(p.root);
  return p;
}

function section(name, ...content) {
  const s = el("section"); s.append(el("h3", name), ...content); return s;
}

function update(p, doc) {
  p.lastUpdated = doc.lastUpdatedTime;
  p.status = doc.runtimeStatus;
  document.body.dataset.instanceStatus = doc.runtimeStatus;
  p.badge.replaceChildren(statusBadge(doc.runtimeStatus));
  const ended = ENDED.includes(doc.runtimeStatus);
  const facts = [["orchestration", doc.name], ["created", localTime(doc.createdTime)],
    ["last updated", localTime(doc.lastUpdatedTime)],
    [ended ? "took" : "running for", duration(between(doc.createdTime, ended ? doc.lastUpdatedTime : new Date().toISOString()))]];
  p.facts.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  p.actions.replaceChildren(...actionButtons(doc));
  showFailure(p, doc.failureDetails);
  for (const [name, value, always] of [["input", doc.input, true], ["output", doc.output, true], ["custom status", doc.customStatus, false]]) {
    const text = JSON.stringify(value);
    if (p.json[name] && p.json[name].text === text) continue;
    const panel = section(name, jsonView(value));
    panel.dataset.part = name;
    if (p.json[name]) p.json[name].node.replaceWith(panel);
    else p.panels.append(panel);
    panel.hidden = !always && (value === null || value === undefined);
    p.json[name] = { text, node: panel };
  }
  for (const ev of doc.historyEvents || []) {
    if (p.seqs.has(ev.seq)) continue;
    p.seqs.add(ev.seq);
    const row = timelineRow(p, ev, doc);
    if (row) p.events.append(row);
  }
  p.graph.load();
}

// -- JSON as a collapsible tree ------------------------------------------------------

export function jsonView(value) {
  const box = el("div", undefined, "json");
  box.append(jsonNode(value, null, 0));
  return box;
}

function jsonNode(value, key, depth) {
  const label = (node) => { if (key !== null) { const k = el("span", JSON.stringify(key), "k"); node.prepend(k, ": "); } return node; };
  if (value === null || typeof value !== "object") {
    const cls = typeof value === "string" ? "s" : value === null ? "z" : "n";
    const row = el("div", undefined, "row"); row.append(el("span", JSON.stringify(value), cls));
    return label(row);
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const open = Array.isArray(value) ? "[" : "{", close = Array.isArray(value) ? "]" : "}";
  if (!entries.length) { const row = el("div", open + close, "row"); return label(row); }
  const details = el("details");
  details.open = depth < 2;
  const summary = el("summary", `${open} ${entries.length} ${Array.isArray(value) ? "item" : "key"}${entries.length === 1 ? "" : "s"} ${close}`);
  details.append(label(summary));
  for (const [k, v] of entries) details.append(jsonNode(v, Array.isArray(value) ? null : k, depth + 1));
  return details;
}

function pre(value) {
  return el("pre", typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

// -- the history as a table ----------------------------------------------------------

function timelineRow(p, ev, doc) {
  const cells = { step: "", activity: "", input: null, result: null, took: "", attempt: "" };
  let bad = false;
  switch (ev.eventType) {
    case "created":
      cells.input = pre(ev.input);
      break;
    case "checkpoint": {
      cells.step = ev.label ? `${ev.step} \u00b7 ${ev.label}` : String(ev.step);
      for (const t of ev.tasks || []) {
        if (!p.tasks.has(t.id)) p.tasks.set(t.id, { ...t, scheduled: ev.timestamp });
      }
      const names = (ev.tasks || []).map((t) => `${t.kind} ${t.name || ""}`.trim());
      cells.activity = names.join(", ");
      const vars = ev.slots || {};
      if (Object.keys(vars).length) {
        const d = el("details"); d.append(el("summary", `variables (${Object.keys(vars).length})`), jsonView(vars));
        d.className = "vars";
        cells.result = d;
      }
      break;
    }
    case "result":
    case "retry": {
      const task = p.tasks.get(ev.task) || {};
      cells.activity = task.name || (ev.error && ev.error.task_name) || `task ${ev.task}`;
      cells.input = task.input === undefined ? null : pre(task.input);
      const attempt = ev.eventType === "retry" ? ev.attempt - 1 : (p.attempts.get(ev.task) || 1);
      if (ev.eventType === "retry") p.attempts.set(ev.task, ev.attempt);
      cells.attempt = String(attempt);
      if (task.scheduled) cells.took = duration(between(task.first_at || task.scheduled, ev.timestamp));
      if (ev.error) { bad = true; cells.result = errorView(ev.error); }
      else cells.result = pre(ev.value);
      break;
    }
    case "completed":
      cells.result = pre(ev.output);
      cells.took = duration(between(doc.createdTime, ev.timestamp));
      break;
    case "failed":
      bad = true;
      cells.result = errorView(ev.error || ev);
      cells.took = duration(between(doc.createdTime, ev.timestamp));
      break;
    case "terminated": case "suspended": case "resumed":
      cells.result = ev.reason === undefined || ev.reason === null ? null : pre(ev.reason);
      break;
    case "event":
      cells.activity = `event ${ev.name}`;
      cells.input = pre(ev.data);
      break;
    default: {
      const { seq, eventType, timestamp, ...rest } = ev;
      if (Object.keys(rest).length) cells.result = pre(rest);
    }
  }
  const tr = el("tr");
  tr.dataset.event = ev.eventType;
  if (bad) tr.className = "bad";
  const time = el("td", localTime(ev.timestamp), "t"); time.title = ev.timestamp;
  const cell = (node) => { const td = el("td"); if (node) td.append(node); return td; };
  tr.append(time, el("td", ev.eventType), el("td", cells.step), el("td", cells.activity),
    cell(cells.input), cell(cells.result), el("td", cells.took), el("td", cells.attempt));
  return tr;
}

// -- why it failed: the status document's failureDetails --------------------------------

function showFailure(p, details) {
  const text = JSON.stringify(details || null);
  if (p.failureText === text) return;
  p.failureText = text;
  p.failure.hidden = !details;
  if (!details) { p.failure.replaceChildren(); return; }
  const head = el("strong", `${details.errorType || "Error"}: ${details.errorMessage || ""}`, "error");
  head.dataset.part = "failure-message";
  p.failure.replaceChildren(el("h3", "failure"), head);
  if (details.stackTrace) p.failure.append(tracebackView(details.stackTrace));
}

// A Python traceback, shown open: each frame's `File "x.py", line N, in f` line and the
// source line under it marked apart. Built with textContent, so the error's own text
// (a message holding "<b>" or "&") is shown as written, never parsed as HTML.
function tracebackView(text) {
  const box = el("pre", undefined, "traceback");
  const lines = String(text).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const frame = /^\s*File ".*", line \d+/.test(line);
    const source = !frame && i > 0 && /^\s*File ".*", line \d+/.test(lines[i - 1]) && /^\s{4,}\S/.test(line);
    box.append(el("span", line, frame ? "frame" : source ? "src" : undefined), i < lines.length - 1 ? "\n" : "");
  }
  return box;
}

function errorView(error) {
  const box = el("div");
  const type = error.error_type || error.type || "Error";
  box.append(el("strong", `${type}: ${error.message || ""}`, "error"));
  if (error.details) {
    const d = el("details"); d.append(el("summary", "traceback"), tracebackView(error.details));
    box.append(d);
  }
  return box;
}

// -- the step graph: natural size, zoom with the wheel or the buttons, pan by dragging --

function graphPanel(id) {
  const root = el("div");
  const bar = el("div", undefined, "graphbar");
  const viewport = el("div", undefined, "viewport");
  const img = el("img");
  img.alt = "step graph";
  img.className = "graph";
  img.draggable = false;
  viewport.append(img);
  let scale = 1, x = 0, y = 0, loadedFor = null, fitted = false;
  const apply = () => { img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`; zoomLabel.textContent = `${Math.round(scale * 100)}%`; };
  const zoomAt = (factor, cx, cy) => {
    const next = Math.min(8, Math.max(0.05, scale * factor));
    x = cx - (cx - x) * (next / scale); y = cy - (cy - y) * (next / scale); scale = next; apply();
  };
  const fit = () => {
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) return;
    // a small graph gets a viewport its size; a big one is shrunk to fit, and zooms in
    if (h + 16 < viewport.clientHeight) viewport.style.height = `${h + 16}px`;
    scale = Math.min(1, viewport.clientWidth / w, viewport.clientHeight / h);
    x = (viewport.clientWidth - w * scale) / 2; y = 8 * scale; apply();
  };
  const button = (text, title, fn) => { const b = el("button", text); b.type = "button"; b.title = title; b.onclick = fn; bar.append(b); return b; };
  button("\u2212", "zoom out", () => zoomAt(1 / 1.25, viewport.clientWidth / 2, viewport.clientHeight / 2));
  button("+", "zoom in", () => zoomAt(1.25, viewport.clientWidth / 2, viewport.clientHeight / 2));
  button("fit", "fit the whole graph", fit);
  button("1:1", "natural size: labels at their real size", () => { scale = 1; x = 0; y = 0; apply(); });
  const zoomLabel = el("span", "100%", "muted");
  bar.append(zoomLabel, el("span", "  wheel to zoom, drag to move", "muted"));
  viewport.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = viewport.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  viewport.addEventListener("pointerdown", (ev) => { drag = { px: ev.clientX, py: ev.clientY, x, y }; viewport.setPointerCapture(ev.pointerId); viewport.classList.add("dragging"); });
  viewport.addEventListener("pointermove", (ev) => { if (!drag) return; x = drag.x + ev.clientX - drag.px; y = drag.y + ev.clientY - drag.py; apply(); });
  viewport.addEventListener("pointerup", () => { drag = null; viewport.classList.remove("dragging"); });
  root.append(bar, viewport);
  // fetched with the key header and shown from a blob: an <img src> could not send it
  const load = async () => {
    try {
      const r = await api("api/instances/" + encodeURIComponent(id) + "/graph");
      if (!r.ok) { viewport.replaceWith(el("p", "(no graph: Graphviz or the compiled source is unavailable)", "muted")); bar.hidden = true; return; }
      const url = URL.createObjectURL(await r.blob());
      img.onload = () => { URL.revokeObjectURL(url); if (!fitted) { fitted = true; fit(); } };
      img.src = url;
      loadedFor = id;
    } catch (e) { failed(e); }
  };
  return { root, load, get loaded() { return loadedFor; } };
}

// -- actions, each confirmed in a dialog, then sent to the API -------------------------

const ACTIONS = [
  { name: "terminate", label: "terminate", when: (s) => !ENDED.includes(s), reason: true, danger: true,
    text: "Terminate ends the instance now; work it has scheduled is abandoned. It cannot be undone." },
  { name: "suspend", label: "suspend", when: (s) => s === "Running" || s === "Pending", reason: true,
    text: "Suspend holds the instance at its next step until it is resumed." },
  { name: "resume", label: "resume", when: (s) => s === "Suspended", reason: true,
    text: "Resume lets a suspended instance continue." },
  { name: "raise", label: "raise event", when: (s) => !ENDED.includes(s), event: true,
    text: "The event is delivered to the instance's next wait_for_external_event of that name." },
  { name: "restart", label: "restart", when: (s) => ENDED.includes(s), keepId: true,
    text: "Restart runs the orchestration again with the same input, as a new instance (or under this id, replacing this one)." },
  { name: "rewind", label: "rewind", when: (s) => s === "Failed", reason: true,
    text: "Rewind resumes the failed instance from the checkpoint before its failure; the failed work runs again." },
  { name: "purge", label: "purge", when: (s) => ENDED.includes(s), danger: true,
    text: "Purge deletes the instance and its whole history. It cannot be undone." },
];

function actionButtons(doc) {
  return ACTIONS.map((a) => {
    const b = el("button", a.label, a.danger ? "danger" : "");
    b.type = "button";
    b.dataset.action = a.name;
    b.disabled = !a.when(doc.runtimeStatus);
    b.onclick = () => confirmAction(a, doc.instanceId);
    return b;
  });
}

function confirmAction(action, id) {
  const dialog = document.getElementById("confirm");
  const $ = (x) => document.getElementById(x);
  $("c-title").textContent = `${action.label} ${id}?`;
  $("c-text").textContent = action.text;
  $("c-reason-l").hidden = !action.reason;
  $("c-event-l").hidden = $("c-data-l").hidden = !action.event;
  $("c-event").required = Boolean(action.event);
  $("c-keep-l").hidden = !action.keepId;
  $("c-keep").checked = false;
  $("c-reason").value = ""; $("c-error").textContent = "";
  $("c-ok").textContent = action.label;
  dialog.dataset.action = action.name;
  dialog.returnValue = "";
  dialog.onclose = null;
  $("c-ok").onclick = (ev) => {
    if (!action.event) return;
    try { JSON.parse($("c-data").value || "null"); } catch (e) {
      ev.preventDefault(); $("c-error").textContent = "event data is not JSON: " + e.message;
    }
  };
  dialog.onclose = () => { if (dialog.returnValue === "ok") perform(action, id).catch(failed); };
  dialog.showModal();
}

async function perform(action, id) {
  const $ = (x) => document.getElementById(x);
  const base = "api/instances/" + encodeURIComponent(id);
  const reason = $("c-reason").value;
  const q = reason ? "?reason=" + encodeURIComponent(reason) : "";
  if (action.name === "raise") {
    const name = $("c-event").value.trim();
    await apiJSON(`${base}/raiseEvent/${encodeURIComponent(name)}`, { method: "POST",
      headers: { "content-type": "application/json" }, body: $("c-data").value || "null" });
    toast(`event ${name} raised on ${id}`);
  } else if (action.name === "restart") {
    const fresh = $("c-keep").checked ? "false" : "true";
    const { body } = await apiJSON(`${base}/restart?restartWithNewInstanceId=${fresh}`, { method: "POST" });
    toast(`${id} restarted as ${body.id}`);
    if (body.id !== id) { openInstance(body.id); return; }
  } else if (action.name === "purge") {
    await apiJSON(base, { method: "DELETE" });
    toast(`${id} purged`);
    openList();
    return;
  } else {
    await apiJSON(`${base}/${action.name}${q}`, { method: "POST" });
    toast(`${action.label} sent to ${id}`);
  }
  const box = document.getElementById("instanceview");
  await renderInstance(box, id);
}
