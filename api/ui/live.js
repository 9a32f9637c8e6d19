// deployq dashboard: what the page knows of every lane (an app in an
// environment), kept current by GET /api/v1/events.
//
// A page fetches the lanes (GET /api/v1/environments) when it first needs
// them; after that each "deploy" and "lock" event carries the lanes it
// changed, and the page shows them in place. Each change has an id,
// "EPOCH:SEQ"; the environments say the last change they hold
// (X-Deployq-Event-ID) and a stream starts with "ready", the last change
// before it. The page fetches the lanes again only when it cannot be sure
// it holds every change: a "resync" (this page fell behind), or a stream
// that (re)starts past what it holds.
"use strict";

const live = {
  known: false,  // the lanes were fetched
  at: null,      // the id of the last change the lanes hold, {epoch, seq}; null: unknown
  from: null,    // where the stream started
  loading: null, // the fetch of the lanes under way
  held: [],      // changes that came while the lanes were fetched
};

const laneKey = (app, env) => app + "\n" + env;

// lane is what the page knows of app in env, or undefined.
function lane(app, env) { return state.lanes.get(laneKey(app, env)); }

function parseID(id) {
  const [epoch, seq] = String(id || "").split(":");
  return seq === undefined ? null : { epoch, seq: Number(seq) };
}

// holds: whether what the page knows (at) has every change up to id.
function holds(at, id) { return !!at && !!id && at.epoch === id.epoch && at.seq >= id.seq; }

function setLanes(envs) {
  state.envs = envs;
  state.lanes = new Map(envs.map((e) => [laneKey(e.app, e.env), e]));
  state.laneIndex = new Map(envs.map((e, i) => [laneKey(e.app, e.env), i]));
}

// putLane replaces what the page knows of one lane.
function putLane(e) {
  const k = laneKey(e.app, e.env), i = state.laneIndex.get(k);
  if (i === undefined) return;
  state.envs[i] = e;
  state.lanes.set(k, e);
}

// loadEnvs fetches the lanes, once at a time, then applies the changes
// that came meanwhile and are not in them.
function loadEnvs() {
  if (!live.loading) live.loading = fetchLanes().finally(() => { live.loading = null; });
  return live.loading;
}

async function fetchLanes(again) {
  live.held = [];
  const r = await request("GET", "/api/v1/environments");
  setLanes(r.data);
  live.known = true;
  live.at = parseID(r.headers.get("X-Deployq-Event-ID"));
  if (live.from && !holds(live.at, live.from) && !again) return fetchLanes(true); // older than the stream
  const held = live.held;
  live.held = [];
  for (const c of held) apply(c);
  return state.envs;
}

// envsNow resolves to the lanes: those the page keeps current, or
// fetched when it has none or cannot be sure of them.
function envsNow() {
  if (live.loading) return live.loading;
  return live.at ? Promise.resolve(state.envs) : loadEnvs();
}

// resync fetches again what the page shows: the lanes, if it has them,
// then what the view shows.
function resync() {
  const redraw = () => { if (state.view && state.view.refresh) state.view.refresh(); };
  if (!live.known) { redraw(); return; }
  live.at = null;
  loadEnvs().then(redraw, (e) => toast(e.message, true));
}

function onChange(ev) {
  const c = { id: parseID(ev.lastEventId), data: JSON.parse(ev.data) };
  if (live.loading) { live.held.push(c); return; }
  apply(c);
}

// apply shows a change: its lanes, and its deploy to the page that
// follows it (a page without the lanes gets its deploys still); a change
// the lanes hold already is skipped.
function apply(c) {
  if (holds(live.at, c.id)) return;
  if (live.at) live.at = c.id;
  const lanes = c.data.lanes || [];
  for (const e of lanes) putLane(e);
  const v = state.view;
  if (v && v.lanes) v.lanes(lanes);
  if (c.data.deploy && v && v.deploy) v.deploy(c.data.deploy);
}

function followEvents() {
  if (state.events) return;
  const es = new EventSource("/api/v1/events");
  state.events = es;
  es.addEventListener("ready", (ev) => {
    live.from = parseID(ev.lastEventId);
    if (live.known && !live.loading && !holds(live.at, live.from)) resync();
  });
  for (const name of ["deploy", "lock"]) es.addEventListener(name, onChange);
  es.addEventListener("resync", resync);
  // EventSource reconnects by itself; what came meanwhile is not known
  es.onerror = () => { if (!live.loading) live.at = null; };
}

function stopEvents() {
  if (state.events) { state.events.close(); state.events = null; }
  live.at = null;
  live.from = null;
}

// The states a deploy goes through, in order: what a page shows of a
// deploy is never taken back to an earlier one by a late answer.
const stateRank = { waiting: 0, queued: 1, running: 2, verifying: 3 };
const rankOf = (d) => (d.state in stateRank ? stateRank[d.state] : 4);
const active = (d) => d.state in stateRank;
