// deployq dashboard: the environments matrix (apps by environments, 50
// apps a page past that many, with a filter) and the queue below it. A
// change repaints the cells of its lanes and the queue's line of its
// deploy, nothing else.
"use strict";

const appsPerPage = 50;

function matrixView() {
  const view = {};
  let page = 0, cells = new Map();
  const filter = el("input", { id: "m-filter", type: "search", placeholder: "find an app", autocomplete: "off" });
  const pager = el("span", { class: "pager", id: "m-pager" });
  const tools = el("div", { class: "filters", id: "m-tools", hidden: true }, filter, pager);
  const scroll = el("div", { class: "scroll" }, el("p", { class: "muted" }, "Loading…"));
  const queue = queueList();
  fill($main, el("h1", {}, "Environments"), tools, scroll, queue.node);
  filter.addEventListener("input", () => { page = 0; render(); });
  const turn = (by) => { page += by; render(); };

  function render() {
    const apps = [], envNames = [], seenApp = new Set(), seenEnv = new Set();
    for (const e of state.envs) {
      if (!seenApp.has(e.app)) { seenApp.add(e.app); apps.push(e.app); }
      if (!seenEnv.has(e.env)) { seenEnv.add(e.env); envNames.push(e.env); }
    }
    const q = filter.value.trim().toLowerCase();
    const shown = q ? apps.filter((a) => a.toLowerCase().includes(q)) : apps;
    const pages = Math.max(1, Math.ceil(shown.length / appsPerPage));
    page = Math.min(Math.max(page, 0), pages - 1);
    const rows = shown.slice(page * appsPerPage, (page + 1) * appsPerPage);
    tools.hidden = apps.length <= appsPerPage;
    fill(pager, el("button", { class: "small", id: "m-prev", type: "button", disabled: page === 0, onclick: () => turn(-1) }, "‹"),
      shown.length ? ` apps ${page * appsPerPage + 1}–${page * appsPerPage + rows.length} of ${shown.length} ` : " no app matches ",
      el("button", { class: "small", id: "m-next", type: "button", disabled: page >= pages - 1, onclick: () => turn(1) }, "›"));
    cells = new Map();
    const row = (a) => el("tr", {}, el("th", { scope: "row" }, a), envNames.map((n) => {
      const td = el("td", { "data-app": a, "data-env": n }, el("div", { class: "cell" }));
      cells.set(laneKey(a, n), td);
      paint(td, lane(a, n));
      return td;
    }));
    fill(scroll, el("table", { class: "matrix", id: "matrix" },
      el("thead", {}, el("tr", {}, el("th", {}, "app"), envNames.map((n) => el("th", {}, n)))),
      el("tbody", {}, rows.map(row))));
  }

  view.lanes = (lanes) => {
    for (const e of lanes) {
      const td = cells.get(laneKey(e.app, e.env));
      if (td) paint(td, e);
    }
  };
  view.deploy = queue.put;
  view.refresh = () => { render(); queue.load(); };
  envsNow().then(render, (e) => fill(scroll, el("p", { class: "error" }, e.message)));
  queue.load();
  return view;
}

// paint draws a lane in its cell, leaving a lock form open in it as it is.
function paint(td, e) {
  fill(td.querySelector(".cell"), e ? cell(e) : el("span", { class: "muted" }, "—"));
}

function cell(e) {
  const c = e.current, r = e.running, last = e.last;
  const parts = [];
  if (c) {
    parts.push(el("div", { class: "version" }, commitLink(e.repo, c.sha), " ",
      el("span", { class: "ref" }, c.ref !== c.sha ? c.ref : ""),
      el("div", { class: "meta" }, `${c.user} · `, el("span", { title: when(c.finished_at) }, age(c.finished_at) + " ago"))));
  } else {
    parts.push(el("div", { class: "muted" }, "never deployed"));
  }
  if (last && unsuccessful.includes(last.state)) {
    parts.push(el("div", { class: "last" }, "last: ", el("a", { href: `#/deploy/${last.id}` }, `#${last.id}`), " ", badge(last.state)));
  }
  if (r) {
    parts.push(el("div", { class: "running" }, el("a", { href: `#/deploy/${r.id}` }, `#${r.id}`), r.state === "verifying" ? " verifying " : " deploying ", what(r), progressBar(r.progress)));
  }
  if (e.queued || e.waiting) {
    parts.push(el("div", { class: "qlen" }, `${e.queued} queued` + (e.waiting ? `, ${e.waiting} waiting` : "")));
  }
  if (e.freeze) parts.push(freezeNote(e.freeze));
  if (e.lock) parts.push(lockNote(e.lock));
  const actions = el("div", { class: "actions" },
    e.lock ? el("button", { class: "small", onclick: () => unlock(e) }, "Unlock") :
      el("button", { class: "small lock-btn", onclick: (ev) => lockForm(ev.target.closest("td"), e) }, "Lock"),
    el("a", { class: "small", href: `#/history/${encodeURIComponent(e.app)}/${encodeURIComponent(e.env)}` }, "History"),
    el("a", { class: "small", href: `#/deploy-new/${encodeURIComponent(e.app)}/${encodeURIComponent(e.env)}` }, "Deploy"));
  return [parts, actions];
}

function lockForm(td, e) {
  if (td.querySelector(".lockform")) return;
  const reason = el("input", { name: "reason", placeholder: "reason", required: true });
  const ttl = el("input", { name: "ttl", placeholder: "for (e.g. 2h)", size: 8 });
  const scope = el("select", { name: "scope" }, el("option", { value: "app" }, `${e.app} in ${e.env}`), el("option", { value: "env" }, `all of ${e.env}`));
  const form = el("form", { class: "lockform" }, scope, reason, ttl, el("button", { type: "submit" }, "Lock"),
    el("button", { type: "button", onclick: () => form.remove() }, "Cancel"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/api/v1/locks", { env: e.env, app: scope.value === "app" ? e.app : "", reason: reason.value, ttl: ttl.value });
      toast(`locked ${scope.value === "app" ? e.app + " in " : ""}${e.env}`);
      form.remove();
    } catch (err) { toast(err.message, true); }
  });
  td.append(form);
  reason.focus();
}

async function unlock(e) {
  try {
    const q = e.lock.app ? `?app=${encodeURIComponent(e.lock.app)}` : "";
    await api("DELETE", `/api/v1/locks/${encodeURIComponent(e.lock.env)}${q}`);
    toast(`unlocked ${e.lock.env}`);
  } catch (err) { toast(err.message, true); }
}

// queueList shows the deploys running, queued and waiting, oldest first:
// fetched with the page, then changed deploy by deploy (put). A late
// answer never brings back a deploy that ended, nor an older state.
function queueList() {
  const list = el("ul", { class: "qlist" });
  const none = el("p", { class: "muted" }, "Nothing queued or running.");
  const node = el("section", { class: "queue", id: "queue" }, el("h2", {}, "Queue and running"), none);
  const items = new Map(); // id -> {d, li}
  const ended = new Set();
  const show = () => { if (items.size === 0) list.replaceWith(none); else none.replaceWith(list); };

  function end(id) {
    ended.add(id);
    const had = items.get(id);
    if (had) { had.li.remove(); items.delete(id); }
  }

  function put(d) {
    if (ended.has(d.id)) return;
    const had = items.get(d.id);
    if (!active(d)) end(d.id);
    else if (!had || rankOf(d) >= rankOf(had.d)) {
      const li = queueItem(d);
      if (had) had.li.replaceWith(li);
      else list.insertBefore(li, [...list.children].find((x) => Number(x.dataset.id) > d.id) || null);
      items.set(d.id, { d, li });
    }
    show();
  }

  // load fetches the queue; a deploy shown before it was asked for and
  // missing from it has ended meanwhile
  async function load() {
    const before = new Set(items.keys());
    let ds;
    try { ds = await api("GET", "/api/v1/deploys?state=running,verifying,queued,waiting&limit=200"); } catch (e) { return; }
    const now = new Set(ds.map((d) => d.id));
    for (const id of before) if (!now.has(id)) end(id);
    for (const d of ds) put(d);
    show();
    node.dataset.loaded = String(Number(node.dataset.loaded || 0) + 1); // how many loads landed
  }
  return { node, put, load };
}

function queueItem(d) {
  return el("li", { "data-id": d.id }, badge(d.state), " ", el("a", { href: `#/deploy/${d.id}` }, `#${d.id}`), ` ${d.app} → ${d.env} `, what(d),
    ` by ${d.user}`, d.waiting_for ? el("span", { class: "muted" }, " · " + d.waiting_for) : null,
    ["running", "verifying"].includes(d.state) ? progressBar(d.progress) : null);
}
