// tether dashboard: the entity list (issue 12), oldest first. One row per entity: its id, its last
// committed state, how many operations wait in its queue, the orchestration holding its
// lock (a link to that instance) and when it last changed. Filtered by entity name,
// paged with the API's continuation token, redrawn on live updates.
import { apiJSON, el, localTime, openInstance } from "./dashboard.js";
import { jsonView } from "./instance.js";

let view = null;  // {root, rows, name, top, tokens, page, info, newer, older}

export async function renderEntities(box) {
  if (!view || !box.contains(view.root)) view = build(box);
  await refresh(view);
}

function build(box) {
  const v = { tokens: [null], page: 0 };
  v.root = el("div");
  const form = el("form"); form.id = "entityfilters"; form.autocomplete = "off";
  const nameLabel = el("label", "entity name ");
  v.name = el("input"); v.name.type = "search"; v.name.id = "e-name"; v.name.placeholder = "any";
  nameLabel.append(v.name);
  const topLabel = el("label", "per page ");
  v.top = el("select"); v.top.id = "e-top";
  for (const n of ["25", "50", "100", "500"]) v.top.add(new Option(n, n, n === "50", n === "50"));
  topLabel.append(v.top);
  form.append(nameLabel, topLabel);
  let typing = null;
  form.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { v.tokens = [null]; v.page = 0; refresh(v); }, 250);
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());
  const table = el("table"); table.id = "entitytable";
  const head = el("tr");
  for (const h of ["entity", "state", "queue", "locked by", "last change"]) head.append(el("th", h));
  const thead = el("thead"); thead.append(head);
  v.rows = el("tbody"); v.rows.id = "entityrows";
  table.append(thead, v.rows);
  const pager = el("div"); pager.className = "pager";
  v.newer = el("button", "\u2190 previous"); v.newer.type = "button";
  v.older = el("button", "next \u2192"); v.older.type = "button";
  v.info = el("span");
  v.newer.onclick = () => { if (v.page > 0) { v.page -= 1; refresh(v); } };
  v.older.onclick = () => { if (v.tokens[v.page + 1]) { v.page += 1; refresh(v); } };
  pager.append(v.newer, v.info, v.older);
  v.root.append(form, table, pager);
  box.replaceChildren(v.root);
  return v;
}

async function refresh(v) {
  const name = v.name.value.trim().toLowerCase();
  const q = new URLSearchParams({ fetchState: "true", top: v.top.value });
  const path = "api/entities" + (name ? "/" + encodeURIComponent(name) : "") + "?" + q;
  const headers = v.tokens[v.page] ? { "x-ms-continuation-token": v.tokens[v.page] } : {};
  let docs, response;
  try {
    ({ body: docs, response } = await apiJSON(path, { headers }));
  } catch (e) {
    v.rows.replaceChildren(emptyRow(e.message, "error"));
    throw e;
  }
  v.tokens.length = v.page + 1;
  const next = response.headers.get("x-ms-continuation-token");
  if (next) v.tokens.push(next);
  v.rows.replaceChildren(...docs.map(row));
  if (!docs.length) v.rows.append(emptyRow(name ? `no entity named ${name}` : "no entity yet"));
  v.newer.disabled = v.page === 0;
  v.older.disabled = !next;
  v.info.textContent = `page ${v.page + 1}` + (docs.length ? ` \u00b7 ${docs.length} shown` : "");
}

function emptyRow(text, cls = "empty") {
  const tr = el("tr"); const td = el("td", text, cls); td.colSpan = 5; tr.append(td); return tr;
}

function row(d) {
  const tr = el("tr");
  tr.dataset.id = d.id;
  const state = el("td", undefined, "state");
  if (d.exists) state.append(jsonView(d.state)); else state.append(el("span", "no state", "muted"));
  const queue = el("td", String(d.queueLength), d.queueLength ? "queue busy" : "queue");
  const lock = el("td", undefined, "lock");
  if (d.lockedBy) {
    const a = el("a", d.lockedBy, "id");
    a.href = "?instance=" + encodeURIComponent(d.lockedBy);
    a.onclick = (ev) => { ev.preventDefault(); openInstance(d.lockedBy); };
    lock.append(a);
  } else lock.append(el("span", "unlocked", "muted"));
  tr.append(el("td", d.id, "id"), state, queue, lock, el("td", localTime(d.lastModifiedTime)));
  return tr;
}
