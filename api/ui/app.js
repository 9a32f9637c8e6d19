// deployq dashboard: plain JavaScript over deployq's HTTP API (the same
// endpoints and permissions as the CLI and chat). Views: environments
// matrix with the queue (matrix.js), a deploy with its live log, history,
// a deploy form, sign-in. Live through GET /api/v1/events (server-sent
// events, live.js). The page loads live.js, matrix.js, then this.
"use strict";

const $main = document.getElementById("main");
// envs: every lane in config order; lanes: the same by app and env (live.js)
const state = { me: null, envs: [], lanes: new Map(), laneIndex: new Map(), view: null, logSource: null };

// ---------- helpers ----------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the page's CSP
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// fill replaces a node's children, skipping null, undefined and false.
function fill(node, ...kids) {
  node.replaceChildren();
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    node.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return node;
}

// request sends an API request and returns its answer's {data, headers}.
async function request(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-Deployq-UI": "1", "Accept": "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  const text = await r.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { message: text } }; }
  if (!r.ok) {
    const msg = (data && data.error && data.error.message) || r.statusText;
    if (r.status === 401) { location.hash = "#/login"; }
    throw new Error(msg);
  }
  return { data, headers: r.headers };
}

async function api(method, path, body) { return (await request(method, path, body)).data; }

function toast(msg, bad) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.className = "toast" + (bad ? " bad" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}

const short = (sha) => (sha || "").slice(0, 7);

function age(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return Math.floor(s) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  if (s < 86400) return Math.floor(s / 3600) + "h" + (Math.floor(s / 60) % 60 ? (Math.floor(s / 60) % 60) + "m" : "");
  return Math.floor(s / 86400) + "d" + (Math.floor(s / 3600) % 24 ? (Math.floor(s / 3600) % 24) + "h" : "");
}

// Times are said 24-hour in the browser's zone, with the zone's name
// ("2026-11-30 14:05:09 CET", "… UTC").
const clock = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" });

function timeParts(iso) {
  return Object.fromEntries(clock.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
}

function when(iso) {
  if (!iso) return "";
  const p = timeParts(iso);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}

// timeOfDay is a log line's time: "14:05:09" (the log bar names the zone).
function timeOfDay(iso) {
  const p = timeParts(iso);
  return `${p.hour}:${p.minute}:${p.second}`;
}

const zoneName = () => timeParts(new Date().toISOString()).timeZoneName;

function commitLink(repo, sha) {
  if (!sha) return el("span", { class: "muted" }, "—");
  if (repo) return el("a", { href: `https://github.com/${repo}/commit/${sha}`, class: "sha", target: "_blank", rel: "noopener" }, short(sha));
  return el("code", { class: "sha", title: sha }, short(sha));
}

function badge(st) { return el("span", { class: "badge s-" + st }, st); }

// progressBar shows how far a deploy is: a bar only when the runner
// counts (hosts, batches, replicas, tasks), else its phase and message.
function progressBar(p) {
  if (!p) return null;
  const total = p.total || 0, done = Math.min(p.done || 0, total);
  const text = p.phase === "verify" ? p.message : [total > 0 ? `${done}/${total}` : "", p.phase, p.message].filter(Boolean).join(" ");
  if (total <= 0 && !text) return null;
  return el("div", { class: "progress", title: p.message || "" },
    total > 0 ? el("div", { class: "bar" }, el("div", { class: "fill", style: `width:${Math.round(done * 100 / total)}%` })) : null,
    el("span", { class: "ptext" }, text));
}

// The states a deploy ends in without succeeding: a cell shows its last
// deploy only when it ended so.
const unsuccessful = ["failed", "canceled", "interrupted", "superseded"];

// badBadge says that a version is marked bad, by whom and why.
function badBadge(b) {
  return el("span", { class: "badge s-failed", title: `marked bad by ${b.user}: ${b.reason}` }, "bad");
}

function lockNote(l) {
  return el("div", { class: "lock" }, el("strong", {}, "Locked: "), `${l.app ? l.app + " in " : ""}${l.env} by ${l.owner}`,
    l.reason ? `: ${l.reason}` : "", el("div", { class: "meta" }, `since ${age(l.created_at)}`,
      l.expires_at ? ` · expires ${when(l.expires_at)}` : " · no expiry"));
}

function freezeNote(freeze) {
  return el("div", { class: "freeze", title: freeze }, el("strong", {}, "Frozen: "), freeze);
}

function what(d) {
  if (d.op) return d.op === "scale" ? `scale to ${d.instances}` : d.op;
  return `${d.ref === d.sha ? short(d.sha) : d.ref + " (" + short(d.sha) + ")"}`;
}

// ANSI SGR colours -> spans; everything else of the line is text.
function ansi(text) {
  const frag = document.createDocumentFragment();
  const re = /\x1b\[([0-9;]*)m/g;
  let cls = [], last = 0, m;
  const push = (s) => {
    if (!s) return;
    frag.append(cls.length ? el("span", { class: cls.join(" ") }, s) : document.createTextNode(s));
  };
  while ((m = re.exec(text)) !== null) {
    push(text.slice(last, m.index));
    last = re.lastIndex;
    for (const c of (m[1] || "0").split(";").map(Number)) {
      if (c === 0) cls = [];
      else if (c === 1) cls.push("a-bold");
      else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) cls = cls.filter((x) => !x.startsWith("a-fg")).concat("a-fg" + c);
      else if ((c >= 40 && c <= 47) || (c >= 100 && c <= 107)) cls = cls.filter((x) => !x.startsWith("a-bg")).concat("a-bg" + c);
      else if (c === 39) cls = cls.filter((x) => !x.startsWith("a-fg"));
      else if (c === 49) cls = cls.filter((x) => !x.startsWith("a-bg"));
    }
  }
  push(text.slice(last).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""));
  return frag;
}

// ---------- views ----------

// deployView: a deploy, shown as fetched with the page and then as its
// events say, and its log followed.
function deployView(id) {
  const view = {};
  let shown = null;
  const head = el("section", { class: "dhead", id: "dhead" });
  const hostSel = el("select", { id: "hostfilter" }, el("option", { value: "" }, "all hosts"));
  const log = el("pre", { class: "log", id: "log" });
  const follow = el("label", { class: "muted" }, el("input", { type: "checkbox", id: "autoscroll", checked: true }), " follow");
  const hosts = new Set();
  fill($main, head, el("div", { class: "logbar" }, el("strong", {}, "Log"), el("span", { class: "muted", id: "logzone" }, `times in ${zoneName()}`),
    " ", hostSel, " ", follow, " ",
    el("a", { href: `/api/v1/deploys/${id}/log`, target: "_blank" }, "raw log")), log);
  let auto = true;
  log.addEventListener("scroll", () => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 24;
    auto = atBottom;
    follow.firstChild.checked = atBottom;
  });
  follow.firstChild.addEventListener("change", (ev) => { auto = ev.target.checked; if (auto) log.scrollTop = log.scrollHeight; });
  hostSel.addEventListener("change", () => {
    for (const line of log.children) line.hidden = hostSel.value !== "" && line.dataset.host !== hostSel.value;
  });
  async function load() {
    try { show(await api("GET", `/api/v1/deploys/${id}`)); } catch (e) { fill(head, el("p", { class: "error" }, e.message)); }
  }
  // show draws d, unless what is shown went further already
  function show(d) {
    if (d.id !== id || (shown && rankOf(d) < rankOf(shown))) return;
    shown = d;
    const env = lane(d.app, d.env) || {}; // the repo, for commit links, when the page has the lanes
    const buttons = [];
    const act = (label, method, path, body, cls) => el("button", { class: cls || "", onclick: async () => {
      try { const r = await api(method, path, body); toast(`${label}: #${r.id} ${r.state}`); if (label === "Roll back") location.hash = `#/deploy/${r.id}`; }
      catch (e) { toast(e.message, true); }
    } }, label);
    if (["waiting", "queued", "running", "verifying"].includes(d.state)) buttons.push(act("Cancel", "POST", `/api/v1/deploys/${id}/cancel`, undefined, "danger"));
    if (d.state === "running" && d.progress && d.progress.phase === "paused") buttons.push(act("Continue", "POST", `/api/v1/deploys/${id}/continue`, undefined, "primary"));
    if (d.needs_approval) {
      buttons.push(act("Approve", "POST", `/api/v1/deploys/${id}/approve`, undefined, "primary"));
      buttons.push(act("Reject", "POST", `/api/v1/deploys/${id}/reject`, {}));
    }
    if (!d.op && ["succeeded", "failed", "interrupted"].includes(d.state)) buttons.push(act("Roll back", "POST", "/api/v1/rollbacks", { of: d.id }));
    fill(head, 
      el("h1", {}, `#${d.id} `, d.op ? `${d.op} ${d.app} in ${d.env}` : `${d.app} → ${d.env}`, " ", badge(d.state)),
      el("dl", { class: "facts" },
        el("dt", {}, "sha"), el("dd", {}, commitLink(env.repo, d.sha), d.bad ? [" ", badBadge(d.bad)] : null),
        el("dt", {}, "ref"), el("dd", {}, d.ref && d.ref !== d.sha ? d.ref : "—"),
        el("dt", {}, "by"), el("dd", {}, d.user),
        el("dt", {}, "source"), el("dd", {}, d.link ? [d.source, " (", el("a", { href: d.link, target: "_blank", rel: "noopener" }, d.source === "actions" ? "the run on GitHub" : "where it runs"), ")"] : d.source),
        d.params ? [el("dt", {}, "parameters"), el("dd", {}, Object.keys(d.params).sort().map((k) => `${k}=${d.params[k]}`).join(" "))] : null,
        el("dt", {}, "asked"), el("dd", {}, when(d.created_at)),
        el("dt", {}, "started"), el("dd", {}, when(d.started_at) || "—"),
        el("dt", {}, "finished"), el("dd", {}, d.finished_at ? `${when(d.finished_at)} (${Math.round((new Date(d.finished_at) - new Date(d.started_at || d.created_at)) / 1000)}s)` : "—"),
        d.previous_sha ? [el("dt", {}, "before"), el("dd", {}, commitLink(env.repo, d.previous_sha))] : null),
      d.error ? el("p", { class: "error" }, d.error) : null,
      d.waiting_for ? el("p", { class: "muted" }, d.waiting_for) : null,
      ["running", "verifying"].includes(d.state) ? progressBar(d.progress) : null,
      el("div", { class: "buttons" }, buttons));
  }
  if (state.logSource) state.logSource.close();
  const src = new EventSource(`/api/v1/deploys/${id}/log`);
  state.logSource = src;
  src.addEventListener("line", (ev) => {
    const l = JSON.parse(ev.data);
    if (l.host && !hosts.has(l.host)) { hosts.add(l.host); hostSel.append(el("option", { value: l.host }, l.host)); }
    const line = el("div", { class: "line s-" + l.stream, "data-host": l.host || "" },
      el("span", { class: "t", title: when(l.time) }, timeOfDay(l.time)), " ",
      l.host ? el("span", { class: "h" }, "[" + l.host + "] ") : null, ansi(l.text));
    if (hostSel.value && (l.host || "") !== hostSel.value) line.hidden = true;
    log.append(line);
    if (auto) log.scrollTop = log.scrollHeight;
  });
  src.addEventListener("end", () => { src.close(); load(); });
  load();
  view.deploy = show;
  view.refresh = load;
  view.leave = () => src.close();
  return view;
}

function historyView(app, env) {
  let again = null; // a render asked for by a change of this app in env
  const view = {
    refresh: render,
    deploy: (d) => {
      if (d.app !== app || d.env !== env) return;
      clearTimeout(again);
      again = setTimeout(render, 150);
    },
  };
  const stateSel = el("select", { id: "f-state" }, el("option", { value: "" }, "any state"),
    ["succeeded", "failed", "canceled", "interrupted", "superseded", "verifying", "running", "queued", "waiting"].map((s) => el("option", { value: s }, s)));
  const sourceSel = el("select", { id: "f-source" }, el("option", { value: "" }, "any source"),
    ["chat", "api", "github", "auto", "rollback", "promotion", "actions"].map((s) => el("option", { value: s }, s)));
  const userIn = el("input", { id: "f-user", placeholder: "user" });
  const body = el("div", {});
  const diff = el("div", { class: "diff", id: "diff" });
  for (const c of [stateSel, sourceSel, userIn]) c.addEventListener("input", render);
  fill($main, el("h1", {}, `History: ${app} in ${env}`),
    el("div", { class: "filters" }, stateSel, sourceSel, userIn), diff, body);
  const lanes = envsNow().catch(() => {}); // the app's repo, for the compare link
  async function render() {
    const q = new URLSearchParams({ app, env, limit: "200" });
    if (stateSel.value) q.set("state", stateSel.value);
    let ds;
    try { ds = await api("GET", "/api/v1/deploys?" + q); } catch (e) { fill(body, el("p", { class: "error" }, e.message)); return; }
    await lanes;
    const repo = (lane(app, env) || {}).repo;
    ds = ds.filter((d) => (!sourceSel.value || d.source === sourceSel.value) && (!userIn.value || d.user.includes(userIn.value)));
    const picked = [];
    const updateDiff = () => {
      if (picked.length !== 2) { fill(diff, el("span", { class: "muted" }, "Pick two deploys to compare them.")); return; }
      const [a, b] = picked.slice().sort((x, y) => x.id - y.id);
      fill(diff, repo ? el("a", { href: `https://github.com/${repo}/compare/${a.sha}...${b.sha}`, target: "_blank", rel: "noopener" },
        `compare #${a.id} (${short(a.sha)}) … #${b.id} (${short(b.sha)})`) : el("code", {}, `${short(a.sha)}..${short(b.sha)}`));
    };
    fill(body, el("table", { class: "history" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "#"), el("th", {}, "state"), el("th", {}, "what"), el("th", {}, "by"), el("th", {}, "source"), el("th", {}, "when"))),
      el("tbody", {}, ds.map((d) => el("tr", {},
        el("td", {}, d.op ? null : el("input", { type: "checkbox", onchange: (ev) => {
          if (ev.target.checked) picked.push(d); else picked.splice(picked.indexOf(d), 1);
          if (picked.length > 2) { picked.shift(); }
          updateDiff();
        } })),
        el("td", {}, el("a", { href: `#/deploy/${d.id}` }, `#${d.id}`)),
        el("td", {}, badge(d.state)),
        el("td", {}, what(d), d.bad ? [" ", badBadge(d.bad)] : null, d.error ? el("div", { class: "muted" }, d.error) : null),
        el("td", {}, d.user), el("td", {}, d.source), el("td", { title: when(d.created_at) }, age(d.created_at) + " ago"))))));
    updateDiff();
  }
  render();
  return view;
}

function deployFormView(app, env) {
  const view = {};
  const appSel = el("select", { id: "d-app", name: "app" });
  const envSel = el("select", { id: "d-env", name: "env" });
  const ref = el("input", { id: "d-ref", name: "ref", placeholder: "ref: a sha, branch or tag (default: the app's)" });
  const force = el("label", {}, el("input", { type: "checkbox", id: "d-force" }), " skip required checks (deploy!)");
  const preview = el("div", { class: "preview", id: "preview" });
  const hold = el("div", { class: "hold", id: "d-hold" });
  const params = el("fieldset", { class: "params", id: "d-params", hidden: true });
  const form = el("form", { class: "deployform" }, appSel, envSel, ref, params, force, hold,
    el("div", { class: "buttons" }, el("button", { type: "button", id: "d-preview", onclick: doPreview }, "Preview"),
      el("button", { type: "submit", class: "primary" }, "Deploy")), preview);
  fill($main, el("h1", {}, "Deploy"), form);
  // what holds the chosen app in the chosen environment, said before the
  // deploy is asked for: its lock and its freeze
  const showHold = () => {
    const e = lane(appSel.value, envSel.value);
    const l = e && e.lock;
    fill(hold, l ? [lockNote(l), el("p", { class: "meta" }, l.owner === state.me ? "Your lock: your deploys go through." :
      `Deploys here are refused until ${l.owner} unlocks it${l.expires_at ? " or it expires" : ""}.`)] : null,
    e && e.freeze ? freezeNote(e.freeze) : null);
  };
  view.lanes = showHold;
  view.refresh = showHold;
  // the environment's typed parameters, a field each
  let fields = [];
  const showParams = async () => {
    const asked = `${appSel.value}/${envSel.value}`;
    let ps = [];
    try { ps = await api("GET", `/api/v1/parameters?${new URLSearchParams({ app: appSel.value, env: envSel.value })}`); } catch (e) { ps = []; }
    if (asked !== `${appSel.value}/${envSel.value}`) return; // another was chosen meanwhile
    fields = ps.map(paramField);
    fill(params, fields.length ? [el("legend", {}, "Parameters"), ...fields.map((f) => f.node)] : null);
    params.hidden = !fields.length;
  };
  envsNow().then((envs) => {
    const apps = [...new Set(envs.map((e) => e.app))];
    fill(appSel, ...apps.map((a) => el("option", { value: a, selected: a === app }, a)));
    const envOptions = () => fill(envSel, state.envs.filter((e) => e.app === appSel.value).map((e) => el("option", { value: e.env, selected: e.env === env }, e.env)));
    appSel.addEventListener("change", () => { envOptions(); showHold(); showParams(); });
    envSel.addEventListener("change", () => { showHold(); showParams(); });
    envOptions();
    showHold();
    showParams();
  }).catch((e) => toast(e.message, true));
  async function doPreview() {
    try {
      const p = await api("GET", `/api/v1/preview?${new URLSearchParams({ app: appSel.value, env: envSel.value, ref: ref.value })}`);
      fill(preview, el("p", {}, p.current_sha ? `${short(p.current_sha)} → ${short(p.sha)}` : `first deploy: ${short(p.sha)}`,
        p.compare_url ? [" · ", el("a", { href: p.compare_url, target: "_blank", rel: "noopener" }, `${p.commits} commit${p.commits === 1 ? "" : "s"}`)] : null));
    } catch (e) { fill(preview, el("p", { class: "error" }, e.message)); }
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const values = {};
      for (const f of fields) { const v = f.value(); if (v !== "") values[f.name] = v; }
      const d = await api("POST", "/api/v1/deploys", { app: appSel.value, env: envSel.value, ref: ref.value, force: force.firstChild.checked, params: values });
      location.hash = `#/deploy/${d.id}`;
    } catch (e) { toast(e.message, true); }
  });
  return view;
}

// paramField is the form field of one deploy parameter: a checkbox, a
// choice, a number or a line of text; value() is what it says ("": not
// given, the default applies).
function paramField(p) {
  const id = `d-param-${p.name}`;
  let input, value;
  switch (p.type) {
    case "bool":
      input = el("input", { type: "checkbox", id, name: p.name, checked: p.default === "true" });
      value = () => (input.checked ? "true" : "false");
      break;
    case "enum":
      input = el("select", { id, name: p.name },
        p.default || !p.required ? null : el("option", { value: "" }, "choose…"),
        !p.default && !p.required ? el("option", { value: "" }, "—") : null,
        ...p.values.map((v) => el("option", { value: v, selected: v === p.default }, v)));
      value = () => input.value;
      break;
    case "int":
      input = el("input", { type: "number", step: "1", id, name: p.name, placeholder: p.default || "" });
      value = () => input.value.trim();
      break;
    default:
      input = el("input", { type: "text", id, name: p.name, maxlength: String(p.max || 200), placeholder: p.default || "" });
      value = () => input.value;
  }
  const label = el("label", { for: id }, p.name + (p.required && !p.default ? " *" : ""));
  return { name: p.name, value, node: el("div", { class: "param" }, label, " ", input) };
}

function loginView() {
  const token = el("input", { id: "token", type: "password", placeholder: "API token", autocomplete: "off" });
  const name = el("input", { id: "name", placeholder: "your name" });
  const form = el("form", { class: "login" },
    el("p", {}, "Sign in with an API token (the CLI's DEPLOYQ_TOKEN)."), token,
    el("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/ui/login", { token: token.value, user: name.value });
      state.me = r.user;
      renderWho();
      followEvents();
      location.hash = "#/";
    } catch (e) { toast(e.message, true); }
  });
  const parts = [el("h1", {}, "Sign in"), form];
  if (state.github) parts.push(el("p", {}, el("a", { class: "button", href: "/ui/auth/github" }, "Sign in with GitHub")));
  if (state.open) {
    form.querySelector("p").textContent = "This server is open on loopback: say who you are.";
    token.replaceWith(name);
  }
  fill($main, ...parts);
  return {};
}

function renderWho() {
  const who = document.getElementById("who");
  fill(who, state.me ? `signed in as ${state.me} ` : "", state.me && state.me !== "anonymous" ?
    el("button", { class: "small", onclick: async () => {
      await api("POST", "/ui/logout"); state.me = null;
      stopEvents();
      location.hash = "#/login";
    } }, "sign out") :
    el("a", { href: "#/login" }, "sign in"));
}

// ---------- routing ----------

function route() {
  if (state.view && state.view.leave) state.view.leave();
  if (state.logSource) { state.logSource.close(); state.logSource = null; }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  switch (parts[0]) {
    case "deploy": state.view = deployView(Number(parts[1])); break;
    case "history": state.view = historyView(parts[1], parts[2]); break;
    case "deploy-new": state.view = deployFormView(parts[1], parts[2]); break;
    case "login": state.view = loginView(); break;
    default: state.view = matrixView();
  }
}

// A page the browser keeps to go back to (its back/forward cache) must not
// keep its live streams open: a browser has six connections to a server,
// and streams of pages gone by would leave none for the page shown.
function pageHidden() {
  stopEvents();
  if (state.logSource) { state.logSource.close(); state.logSource = null; }
}

function pageShown(e) {
  if (!e.persisted) return;
  if (state.me !== null) followEvents();
  route();
}

async function start() {
  window.addEventListener("hashchange", route);
  window.addEventListener("pagehide", pageHidden);
  window.addEventListener("pageshow", pageShown);
  try {
    const cfg = await api("GET", "/ui/config");
    state.open = cfg.open; state.github = cfg.github;
    const me = await api("GET", "/ui/whoami");
    state.me = me.user || null;
  } catch (e) {
    state.me = null;
  }
  renderWho();
  if (state.me === null) { location.hash = "#/login"; }
  else followEvents();
  route();
}

start();
