// synfin's dashboard (docs/dashboard.md). Polls the admin listener's JSON endpoints (/states,
// /stats, /sessions, /host) at a set interval, draws RFC 9293's state diagram with live counts
// and transition rates, a chart of four states over time, who holds TIME_WAIT and CLOSE_WAIT,
// the sessions, the balancer's tables and the advisor's findings. Plain script, no library.
"use strict";

const STATES = ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
  "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"];
// Where each state sits, after the RFC's figure: opens on top, closes below.
const POS = {
  CLOSED: [470, 40], LISTEN: [470, 150], SYN_RECEIVED: [200, 260], SYN_SENT: [740, 260],
  ESTABLISHED: [470, 350], FIN_WAIT_1: [180, 460], CLOSING: [470, 460], CLOSE_WAIT: [760, 460],
  FIN_WAIT_2: [180, 580], TIME_WAIT: [470, 580], LAST_ACK: [760, 580]
};
const GHOST = [760, 665]; // CLOSED again, below: where LAST_ACK and TIME_WAIT end
// The figure's arrows: [from, to, the RFC's label, bend].
const ARROWS = [
  ["CLOSED", "LISTEN", "passive OPEN", 0.5], ["LISTEN", "CLOSED", "CLOSE", 0.5],
  ["CLOSED", "SYN_SENT", "active OPEN / snd SYN", 0], ["LISTEN", "SYN_RECEIVED", "rcv SYN / snd SYN,ACK", 0],
  ["LISTEN", "SYN_SENT", "SEND / snd SYN", 0], ["SYN_RECEIVED", "LISTEN", "rcv RST", -0.25],
  ["SYN_SENT", "SYN_RECEIVED", "rcv SYN / snd ACK", 0.12], ["SYN_SENT", "CLOSED", "CLOSE / timeout", 0.2],
  ["SYN_RECEIVED", "ESTABLISHED", "rcv ACK of SYN", 0], ["SYN_SENT", "ESTABLISHED", "rcv SYN,ACK / snd ACK", 0],
  ["SYN_RECEIVED", "FIN_WAIT_1", "CLOSE / snd FIN", 0], ["ESTABLISHED", "FIN_WAIT_1", "CLOSE / snd FIN", 0],
  ["ESTABLISHED", "CLOSE_WAIT", "rcv FIN / snd ACK", 0], ["FIN_WAIT_1", "FIN_WAIT_2", "rcv ACK of FIN", 0],
  ["FIN_WAIT_1", "CLOSING", "rcv FIN / snd ACK", 0], ["FIN_WAIT_1", "TIME_WAIT", "rcv FIN,ACK", 0],
  ["FIN_WAIT_2", "TIME_WAIT", "rcv FIN / snd ACK", 0], ["CLOSING", "TIME_WAIT", "rcv ACK of FIN", 0],
  ["CLOSE_WAIT", "LAST_ACK", "CLOSE / snd FIN", 0], ["LAST_ACK", "CLOSED", "rcv ACK of FIN", 0],
  ["TIME_WAIT", "CLOSED", "timeout 2MSL", 0]
];
const CHART = ["TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED", "SYN_RECEIVED"];
const COLORS = { TIME_WAIT: "#e65100", CLOSE_WAIT: "#c62828", ESTABLISHED: "#2e7d32", SYN_RECEIVED: "#1565c0" };
const HISTORY_S = 600;
const SVGNS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const ui = {
  view: "synfin", interval: 1000, session: null, after: null, pages: [],
  prevArrows: null, prevStats: null, lastOk: 0, lost: false, failures: 0,
  history: { synfin: [], host: [] }, host: null, hostAt: 0, pid: null
};

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmt(n) {
  if (n === null || n === undefined) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n * 10) / 10);
}
function fmtMs(ms) {
  if (ms < 1000) return ms.toFixed(0) + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  return (ms / 60000).toFixed(1) + " min";
}

// ---- the diagram --------------------------------------------------------------------------
function edge(a, b) {
  // From the border of box a toward box b (boxes 150 x 54).
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const sx = Math.abs(dx) > 0 ? 75 / Math.abs(dx) : Infinity, sy = Math.abs(dy) > 0 ? 27 / Math.abs(dy) : Infinity;
  const s = Math.min(sx, sy);
  return [a[0] + dx * s, a[1] + dy * s];
}
function drawDiagram() {
  const svg = $("diagram");
  const defs = el("svg:defs");
  const m = el("svg:marker", { id: "head", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  m.appendChild(el("svg:path", { d: "M0,0 L10,5 L0,10 z", fill: "#567" }));
  defs.appendChild(m);
  svg.appendChild(defs);
  for (const [from, to, label, bend] of ARROWS) {
    const a = POS[from], b = to === "CLOSED" && (from === "LAST_ACK" || from === "TIME_WAIT") ? GHOST : POS[to];
    const p = edge(a, b), q = edge(b, a);
    const mx = (p[0] + q[0]) / 2, my = (p[1] + q[1]) / 2;
    const nx = -(q[1] - p[1]) * bend, ny = (q[0] - p[0]) * bend;
    const g = el("svg:g", { class: "arrow", id: `arrow-${from}-${to}`, "data-from": from, "data-to": to, "data-total": "0", "data-rate": "0", "data-causes": "{}" });
    g.appendChild(el("svg:path", { d: `M${p[0]},${p[1]} Q${mx + nx},${my + ny} ${q[0]},${q[1]}` }));
    // The label beside its arrow: above a level one, on the outer side of a bent one.
    const level = Math.abs(q[1] - p[1]) < 4;
    const lx = level ? mx : mx + nx / 2 + (nx < 0 ? -4 : 4), ly = level ? my - 16 : my + ny / 2 - 3;
    const anchor = level ? "middle" : nx < 0 ? "end" : "start";
    const t = el("svg:text", { x: lx, y: ly, "text-anchor": anchor });
    t.appendChild(el("svg:tspan", { class: "label" }, label));
    t.appendChild(el("svg:tspan", { class: "rate", x: lx, dy: 12 }, ""));
    g.appendChild(t);
    g.appendChild(el("svg:title", {}, `${from} → ${to}: ${label}`));
    svg.appendChild(g);
  }
  for (const s of STATES) {
    const [x, y] = POS[s];
    const g = el("svg:g", { class: "state", id: `state-${s}`, "data-state": s, "data-count": "" });
    g.appendChild(el("svg:rect", { x: x - 75, y: y - 27, width: 150, height: 54 }));
    g.appendChild(el("svg:text", { class: "name", x, y: y - 6 }, s));
    g.appendChild(el("svg:text", { class: "count", x, y: y + 15 }, "–"));
    svg.appendChild(g);
  }
  const gh = el("svg:g", { class: "ghost" });
  gh.appendChild(el("svg:rect", { x: GHOST[0] - 75, y: GHOST[1] - 20, width: 150, height: 40 }));
  gh.appendChild(el("svg:text", { x: GHOST[0], y: GHOST[1] + 5 }, "CLOSED (again)"));
  svg.appendChild(gh);
}
function showCounts(states) {
  for (const s of STATES) {
    const g = $(`state-${s}`);
    const n = states ? states[s] : null;
    g.setAttribute("data-count", n === null || n === undefined ? "" : String(n));
    g.querySelector(".count").textContent = n === null || n === undefined ? "–" : fmt(n);
    g.classList.toggle("busy", !!n);
  }
}
// Rates: the difference of the counters between this scrape and the last, per second.
function showArrows(tr, now) {
  const other = $("other-arrows").querySelector("tbody");
  other.textContent = "";
  for (const g of document.querySelectorAll(".arrow")) {
    g.classList.remove("flow");
    g.setAttribute("data-rate", "0");
    g.querySelector(".rate").textContent = "";
  }
  if (!tr) {
    $("diagram-note").textContent = ui.view === "host"
      ? "the host's sockets: counts only (the kernel tells no transitions)"
      : "counts only: the kernel transport is told no transitions (run on the stack transport to see them)";
    ui.prevArrows = null;
    return;
  }
  $("diagram-note").textContent = "transitions per second and their top causes on the arrows";
  const prev = ui.prevArrows;
  const cur = { at: now, map: {} };
  for (const a of tr) {
    const key = `${a.from}-${a.to}`;
    cur.map[key] = a;
    const before = prev && prev.map[key];
    const dt = prev ? (now - prev.at) / 1000 : 0;
    const rate = dt > 0 ? (a.total - (before ? before.total : 0)) / dt : 0;
    const causes = Object.entries(a.causes).map(([c, n]) => [c, n - (before && before.causes[c] ? before.causes[c] : 0)]);
    const recent = causes.filter((c) => c[1] > 0).sort((x, y) => y[1] - x[1]);
    const top = (recent.length ? recent : Object.entries(a.causes).sort((x, y) => y[1] - x[1])).slice(0, 2).map((c) => c[0]).join(", ");
    const g = $(`arrow-${key}`);
    if (g) {
      g.setAttribute("data-total", String(a.total));
      g.setAttribute("data-rate", rate.toFixed(2));
      g.setAttribute("data-causes", JSON.stringify(a.causes));
      g.classList.toggle("flow", rate > 0);
      g.querySelector(".rate").textContent = `${fmt(rate)}/s · ${a.total} · ${top}`;
    } else {
      const row = el("tr", { "data-from": a.from, "data-to": a.to, "data-total": a.total, "data-causes": JSON.stringify(a.causes) });
      for (const v of [a.from, a.to, a.total, fmt(rate), Object.entries(a.causes).map(([c, n]) => `${c} ${n}`).join(", ")])
        row.appendChild(el("td", {}, String(v)));
      other.appendChild(row);
    }
  }
  ui.prevArrows = cur;
}

// ---- the chart ----------------------------------------------------------------------------
function record(view, states, now) {
  const h = ui.history[view];
  h.push([now].concat(CHART.map((s) => states[s] || 0)));
  while (h.length && h[0][0] < now - HISTORY_S * 1000) h.shift();
  try { sessionStorage.setItem("synfin-history", JSON.stringify(ui.history)); } catch (e) { /* full: keep going */ }
}
function drawChart() {
  const svg = $("chart");
  svg.textContent = "";
  const h = ui.history[ui.view];
  const W = 640, H = 240, L = 48, B = 20;
  const now = Date.now(), t0 = now - HISTORY_S * 1000;
  let max = 1;
  for (const p of h) for (let i = 1; i < p.length; i++) max = Math.max(max, p[i]);
  svg.appendChild(el("svg:line", { x1: L, y1: H - B, x2: W, y2: H - B, stroke: "#999" }));
  svg.appendChild(el("svg:line", { x1: L, y1: 0, x2: L, y2: H - B, stroke: "#999" }));
  svg.appendChild(el("svg:text", { x: 2, y: 12, "font-size": 11 }, fmt(max)));
  svg.appendChild(el("svg:text", { x: 2, y: H - B, "font-size": 11 }, "0"));
  for (const m of [10, 5, 1])
    svg.appendChild(el("svg:text", { x: L + (W - L) * (1 - m * 60 / HISTORY_S), y: H - 4, "font-size": 11 }, `-${m} min`));
  const legend = $("legend");
  legend.textContent = "";
  CHART.forEach((s, i) => {
    const pts = h.map((p) => `${(L + (W - L) * (p[0] - t0) / (HISTORY_S * 1000)).toFixed(1)},${(H - B - (H - B - 4) * p[i + 1] / max).toFixed(1)}`);
    svg.appendChild(el("svg:polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[s], "stroke-width": 2, "data-state": s }));
    const last = h.length ? h[h.length - 1][i + 1] : 0;
    const span = el("span", { style: `color:${COLORS[s]};margin-right:1em`, "data-state": s }, `■ ${s} ${last}`);
    legend.appendChild(span);
  });
}

// ---- tables -------------------------------------------------------------------------------
function table(head, rows, attrs) {
  const t = el("table", attrs || {});
  const tr = el("tr");
  for (const c of head) tr.appendChild(el("th", {}, c));
  t.appendChild(el("thead")).appendChild(tr);
  const tb = el("tbody");
  for (const r of rows) {
    const row = el("tr");
    for (const c of r) {
      if (c instanceof Node) row.appendChild(el("td")).appendChild(c);
      else row.appendChild(el("td", {}, c === null || c === undefined ? "–" : String(c)));
    }
    tb.appendChild(row);
  }
  t.appendChild(tb);
  return t;
}
function rate(key, v, now) {
  const p = ui.prevStats;
  if (!p || !(key in p.vals)) return "–";
  const dt = (now - p.at) / 1000;
  return dt > 0 ? fmt((v - p.vals[key]) / dt) + "/s" : "–";
}
function showLb(st, now) {
  const box = $("lb");
  box.textContent = "";
  const vals = {};
  const fe = st.frontends.map((f) => {
    vals["fe" + f.name] = f.total; vals["feb" + f.name] = f.bytes_in + f.bytes_out;
    return [f.name, f.listen, f.backend, f.active, f.total, rate("fe" + f.name, f.total, now), rate("feb" + f.name, f.bytes_in + f.bytes_out, now), f.paused ? "paused" : "accepting"];
  });
  box.appendChild(el("h3", {}, "frontends"));
  box.appendChild(table(["name", "listen", "backend", "active", "total", "sessions", "bytes", "state"], fe, { id: "frontends" }));
  box.appendChild(el("h3", {}, "backends and servers"));
  const rows = [];
  for (const b of st.backends) {
    vals["be" + b.name] = b.total;
    rows.push([el("b", {}, b.name), b.balance, "", b.active, b.queued, b.total, rate("be" + b.name, b.total, now), ""]);
    for (const s of b.servers) {
      const k = "s" + b.name + "/" + s.name;
      vals[k] = s.total;
      const health = el("span", { class: s.up ? "up" : "down" }, s.up ? "UP" : (s.ejected ? "EJECTED" : "DOWN"));
      rows.push(["  " + s.name, s.address, health, s.active, s.connect_failures + " fail", s.total, rate(k, s.total, now), s.last_check || ""]);
    }
  }
  box.appendChild(table(["backend / server", "balance / address", "health", "active", "queued / failures", "total", "sessions", "last check"], rows, { id: "backends" }));
  ui.prevStats = { at: now, vals };
}
function connState(c) { return c ? c.state + (c.cause ? ` (${c.cause})` : "") : "–"; }
function showSessions(page, ended) {
  const tb = $("sessions").querySelector("tbody");
  tb.textContent = "";
  for (const s of page.sessions) {
    const tr = el("tr", { "data-id": s.id, "data-client-state": s.client ? s.client.state : "" });
    for (const v of [s.id, s.frontend, s.server || "–", s.client_addr, s.state, connState(s.client), connState(s.server_conn), fmtMs(s.age_ms), s.bytes_up, s.bytes_down, "–"])
      tr.appendChild(el("td", {}, String(v)));
    tr.addEventListener("click", () => openSession(s.id));
    tb.appendChild(tr);
  }
  for (const s of (ended && !ui.after ? ended.ended.slice(0, 20) : [])) {
    const tr = el("tr", { class: "ended", "data-id": s.id });
    for (const v of [s.id, s.frontend, s.server || "–", s.client_addr, "ended", "–", "–", fmtMs(s.age_ms), s.bytes_up, s.bytes_down, s.close_cause])
      tr.appendChild(el("td", {}, String(v)));
    tr.addEventListener("click", () => openSession(s.id));
    tb.appendChild(tr);
  }
  ui.next = page.next;
  $("next").disabled = page.next === null;
}
async function openSession(id) {
  ui.session = id;
  saveHash();
  const box = $("timeline");
  box.hidden = false;
  let d;
  try { d = await getJSON(`/sessions/${id}`); } catch (e) {
    box.textContent = `session ${id}: ${e.message}`;
    return;
  }
  box.textContent = "";
  const s = d.session;
  box.appendChild(el("h3", {}, `session ${s.id} ${d.live ? "(live)" : "(ended: " + s.close_cause + ")"} — ${d.first_fin}`));
  box.appendChild(table(["at", "event", "detail"], d.timeline.map((e) => ["+" + fmtMs(e.at_ms), e.event, e.detail]), { id: "timeline-table" }));
  const close = el("button", {}, "close");
  close.addEventListener("click", () => { ui.session = null; box.hidden = true; saveHash(); });
  box.appendChild(close);
}
function showPeers(host) {
  const box = $("peers");
  box.textContent = "";
  if (!host) { box.textContent = "waiting for the host's socket table…"; return; }
  if (host.error) { box.appendChild(el("p", { class: "err" }, host.error)); return; }
  for (const st of ["TIME_WAIT", "CLOSE_WAIT"]) {
    const p = host.by_peer[st];
    box.appendChild(el("h3", {}, `${st}: ${p.count} (${p.outgoing} outgoing, ${p.incoming} incoming)`));
    box.appendChild(el("p", { class: "small" }, p.rule));
    const rows = p.by_remote.map((r) => ["remote", r.endpoint, r.direction, r.count]).concat(
      p.by_local_port.map((r) => ["local", r.port === null ? "ephemeral ports" : ":" + r.port, r.direction, r.count]));
    box.appendChild(table(["end", "endpoint", "direction", "sockets"], rows, { "data-state": st, class: "small" }));
  }
}
function showAdvice(host) {
  const box = $("advice");
  box.textContent = "";
  if (!host || host.error) { box.textContent = host ? host.error : "waiting…"; return; }
  if (!host.findings.length) box.appendChild(el("p", {}, "nothing to say about this host"));
  for (const f of host.findings) {
    const d = el("div", { class: "finding" + (f.attention ? " attention" : ""), "data-id": f.id });
    d.appendChild(el("b", {}, `[${f.attention ? "attention" : "note"}] ${f.id}: ${f.title}`));
    const dl = el("dl");
    for (const k of ["evidence", "risk", "change", "reason"]) { dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, f[k])); }
    d.appendChild(dl);
    box.appendChild(d);
  }
}

// ---- polling ------------------------------------------------------------------------------
async function getJSON(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), Math.max(3000, ui.interval * 3));
  try {
    const r = await fetch(path, { cache: "no-store", signal: ctl.signal });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return await r.json();
  } finally { clearTimeout(timer); }
}
function setConn(ok, text) {
  const c = $("conn");
  c.className = "conn " + (ok ? "ok" : "lost");
  c.textContent = text;
}
let ticks = 0;
async function tick() {
  const now = Date.now();
  try {
    const hostDue = ui.view === "host" || now - ui.hostAt > 5000;
    const [states, stats, page, ended] = await Promise.all([
      getJSON("/states"), getJSON("/stats"),
      getJSON("/sessions?limit=100" + (ui.after ? "&after=" + ui.after : "")), getJSON("/sessions/ended")]);
    if (ui.pid !== null && (states.pid !== ui.pid)) { ui.prevArrows = null; ui.prevStats = null; }
    ui.pid = states.pid;
    if (hostDue && !ui.hostBusy) {
      // One host dump at a time: on a big host it may take longer than a refresh.
      ui.hostAt = now;
      ui.hostBusy = true;
      getJSON("/host").then((h) => {
        ui.host = h;
        if (!h.error) record("host", h.tcp_states, Date.now());
        showPeers(h);
        showAdvice(h);
        if (ui.view === "host") { showCounts(h.error ? null : h.tcp_states); drawChart(); }
      }).catch(() => { /* the next tick tells whether the listener is gone */ })
        .finally(() => { ui.hostBusy = false; });
    }
    record("synfin", states.states, now);
    if (ui.view === "synfin") {
      showCounts(states.states);
      showArrows(states.transitions, now);
    } else {
      showCounts(ui.host && !ui.host.error ? ui.host.tcp_states : null);
      showArrows(null, now);
    }
    drawChart();
    showLb(stats, now);
    showSessions(page, ended);
    $("sessions-note").textContent = `${states.sessions_active} live (the newest 100 a page; click one for its timeline)`;
    $("meta").textContent = `${states.transport} transport · pid ${states.pid} · up ${fmtMs(states.uptime_s * 1000)} · reloads ${stats.reloads}`;
    ui.lastOk = now; ui.failures = 0;
    setConn(true, `live · refreshed ${new Date(now).toLocaleTimeString()}`);
    document.body.setAttribute("data-ticks", String(++ticks));
    if (ui.session !== null && ticks % 5 === 0) openSession(ui.session);
  } catch (e) {
    ui.failures++;
    const since = ui.lastOk ? ` since ${new Date(ui.lastOk).toLocaleTimeString()}` : "";
    setConn(false, `connection lost: the admin endpoint ${location.host} does not answer${since} (retrying)`);
    document.body.setAttribute("data-lost", String(ui.failures));
  }
  setTimeout(tick, ui.interval);
}
function saveHash() {
  location.replace("#" + new URLSearchParams({ view: ui.view, interval: ui.interval, session: ui.session === null ? "" : ui.session }).toString());
}
function start() {
  const q = new URLSearchParams(location.hash.slice(1));
  if (q.get("view") === "host") ui.view = "host";
  if (+q.get("interval") >= 200) ui.interval = +q.get("interval");
  if (q.get("session")) ui.session = +q.get("session");
  try { const h = JSON.parse(sessionStorage.getItem("synfin-history") || "null"); if (h && h.synfin && h.host) ui.history = h; } catch (e) { /* a fresh history */ }
  $("view").value = ui.view;
  $("interval").value = String(ui.interval);
  if (!$("interval").value) $("interval").appendChild(el("option", { value: ui.interval, selected: "" }, ui.interval + " ms"));
  $("view").addEventListener("change", () => { ui.view = $("view").value; ui.prevArrows = null; saveHash(); if (ui.view === "host") ui.hostAt = 0; });
  $("interval").addEventListener("change", () => { ui.interval = +$("interval").value; saveHash(); });
  $("first").addEventListener("click", () => { ui.after = null; });
  $("next").addEventListener("click", () => { if (ui.next !== null) ui.after = ui.next; });
  drawDiagram();
  if (ui.session !== null) openSession(ui.session);
  tick();
}
start();
