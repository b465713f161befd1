// lanewatch monitor wall. Plain JavaScript, no build step, nothing loaded
// from outside lanewatch. All text goes through textContent: incident titles
// and plates come from the field and must never become markup.
"use strict";

const I18N = {
  en: {
    wall: "Monitor wall", logout: "Log out", login_title: "Sign in to lanewatch", name: "Name",
    password: "Password", login: "Sign in", incidents: "Incidents", vehicles: "Vehicle log",
    inside_now: "Inside now", plate: "Plate", from: "From", to: "To", search: "Search",
    export_csv: "Export CSV", time: "Time", gate: "Gate", direction: "Dir.", class: "Class", dwell: "Stay",
    ack: "Acknowledge", resolve: "Resolve", note_prompt: "Note (optional)",
    online: "online", degraded: "degraded", offline: "offline", offline_since: "offline since {t}",
    open: "open", acknowledged: "acknowledged", escalated: "escalated", resolved: "resolved",
    low: "low", medium: "medium", high: "high", critical: "critical",
    in: "in", out: "out", resident: "resident", visitor: "visitor", blacklisted: "blacklisted", unknown: "unknown",
    no_cameras: "No cameras", no_incidents: "No incidents", no_passages: "No passages",
    bad_login: "Wrong name or password", rate_limited: "Too many attempts; wait {s} s",
    bad_plate: "Not a valid plate", error: "Error: {e}", count: "×{n}", by: "by {n}",
    camera: "camera", lang: "中文",
    open_gate: "Open {g}", gate_reason: "Reason for opening", reason_needed: "Give a reason first",
    gate_opened: "{g}: open command sent",
    visitors: "Visitors", unit: "Unit", note: "Note", add_visitor: "Add visitor", remove: "Remove",
    no_visitors: "No visitors", visitor_added: "{p} added",
    phones: "Patrol phones", device_name: "Phone name", issue_device: "Issue a sign-in QR code",
    device_qr: "Scan with {n} to sign in to the patrol page (shown once)", revoke: "Revoke", no_devices: "No phones",
    outbox: "Tickets to the platform", ticket: "Ticket", state: "State", attempts: "Tries",
    answer: "Platform's answer", resend: "Resend", discard: "Discard",
    outbox_summary: "{d} refused, {p} waiting", no_tickets: "Nothing waiting",
    discard_confirm: "Discard ticket {k}? The platform will not get this version.",
    pending: "waiting", sending: "sending", blocked: "held back", dead: "refused",
    intrusion: "Intrusion", line_crossing: "Line crossing", loitering: "Loitering", crowd: "Crowd",
    fire_lane_blocked: "Fire lane blocked", falling_object: "Falling object", camera_offline: "Camera offline",
    camera_tamper: "Camera tampering", gate_forced: "Gate forced", door_held_open: "Door held open",
    tailgating: "Tailgating", blacklisted_vehicle: "Blacklisted vehicle", vehicle_overstay: "Vehicle overstay",
    sos: "SOS",
  },
  zh: {
    wall: "监控墙", logout: "退出", login_title: "登录 lanewatch", name: "用户名",
    password: "密码", login: "登录", incidents: "事件", vehicles: "车辆记录",
    inside_now: "场内车辆", plate: "车牌", from: "从", to: "至", search: "查询",
    export_csv: "导出 CSV", time: "时间", gate: "出入口", direction: "方向", class: "类别", dwell: "停留",
    ack: "确认", resolve: "处理完毕", note_prompt: "备注（可选）",
    online: "在线", degraded: "不稳定", offline: "离线", offline_since: "离线，自 {t}",
    open: "未处理", acknowledged: "已确认", escalated: "已升级", resolved: "已处理",
    low: "低", medium: "中", high: "高", critical: "紧急",
    in: "进", out: "出", resident: "业主", visitor: "访客", blacklisted: "黑名单", unknown: "未知",
    no_cameras: "没有摄像机", no_incidents: "暂无事件", no_passages: "暂无通行记录",
    bad_login: "用户名或密码错误", rate_limited: "尝试次数过多，请 {s} 秒后再试",
    bad_plate: "车牌无效", error: "错误：{e}", count: "×{n}", by: "{n}",
    camera: "摄像机", lang: "English",
    open_gate: "开启 {g}", gate_reason: "开闸原因", reason_needed: "请先填写原因",
    gate_opened: "{g}：已发送开闸指令",
    visitors: "访客车辆", unit: "房号", note: "备注", add_visitor: "登记访客", remove: "删除",
    no_visitors: "暂无访客车辆", visitor_added: "已登记 {p}",
    phones: "巡逻手机", device_name: "手机名称", issue_device: "生成登录二维码",
    device_qr: "用 {n} 扫码登录巡逻页面（只显示一次）", revoke: "注销", no_devices: "暂无手机",
    outbox: "推送到物业平台的工单", ticket: "工单", state: "状态", attempts: "次数",
    answer: "平台应答", resend: "重新发送", discard: "放弃",
    outbox_summary: "{d} 被拒，{p} 等待中", no_tickets: "没有待发工单",
    discard_confirm: "放弃工单 {k}？平台将收不到这一版本。",
    pending: "等待", sending: "发送中", blocked: "排队", dead: "被拒",
    intrusion: "区域入侵", line_crossing: "越线", loitering: "徘徊", crowd: "人员聚集",
    fire_lane_blocked: "消防通道占用", falling_object: "高空抛物", camera_offline: "摄像机离线",
    camera_tamper: "摄像机遮挡/移动", gate_forced: "强行开闸", door_held_open: "门长时间未关",
    tailgating: "尾随进入", blacklisted_vehicle: "黑名单车辆", vehicle_overstay: "车辆超时停留",
    sos: "紧急求助",
  },
};

const S = {
  lang: (localStorage.getItem("lw-lang") || (navigator.language || "en")).toLowerCase().startsWith("zh") ? "zh" : "en",
  me: null, csrf: "",
  cameras: [], layout: Number(localStorage.getItem("lw-layout")) || 4, page: 0, full: null,
  incidents: new Map(), es: null, pollTimer: null, audio: null,
  feedQuery: "limit=100", feedMatch: null, feedMax: 100, // desk.js: filters and history paging
  soundFor: null, // desk.js: severity -> beep (armed by the operator); null: high and critical
  frames: new Map(), // camera id -> blob URL of its last polled frame
  notes: new Map(),  // incident id -> note being typed
};

const $ = (sel, root = document) => root.querySelector(sel);

// Hooks for desk.js (alarm pop-ups, playback, live vehicle log, site plan):
// every SSE message and life-cycle step is also a "lw:<kind>" DOM event, and
// window.LW exposes the state and helpers.
function emit(kind, detail) { document.dispatchEvent(new CustomEvent("lw:" + kind, { detail })); }
const SEV_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const STATE_RANK = { escalated: 0, open: 0, acknowledged: 1, resolved: 2 };
// feedOrder: unhandled first, then by severity, then newest first.
function feedOrder(a, b) {
  return (STATE_RANK[a.state] ?? 3) - (STATE_RANK[b.state] ?? 3) || (SEV_RANK[a.severity] ?? 4) - (SEV_RANK[b.severity] ?? 4) ||
    (b.started_at > a.started_at ? 1 : b.started_at < a.started_at ? -1 : 0);
}
function t(key, vars) {
  let s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.en[key] || key;
  for (const k in vars || {}) s = s.replace("{" + k + "}", vars[k]);
  return s;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
// Every time on the wall is the site's (site.timezone, from /api/site), in
// one format whatever the browser's zone or language: 2026-12-03 22:14:05.
let timeFmt = null;
function fmtTime(ts) {
  if (!ts) return "";
  if (!timeFmt) {
    try {
      timeFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: S.tz || "UTC", year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    } catch (e) { timeFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: "UTC", hour12: false,
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }); }
  }
  return timeFmt.format(new Date(ts));
}
function fmtDwell(s) {
  if (s === null || s === undefined) return "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}` : `${m}m`;
}

// api calls the JSON API with the session cookie and, for changes, the CSRF
// token. A 401 means the session ended: back to the login form.
async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = S.csrf;
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  let data = null;
  if ((r.headers.get("Content-Type") || "").startsWith("application/json")) data = await r.json();
  if (r.status === 401 && path !== "/api/login") showLogin();
  if (!r.ok) {
    const err = new Error((data && data.error) || r.statusText);
    err.status = r.status; err.retryAfter = r.headers.get("Retry-After");
    throw err;
  }
  return data;
}

function applyLang() {
  document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach(e => { e.textContent = t(e.dataset.i18n); });
  document.querySelectorAll("[data-i18n-ph]").forEach(e => { e.placeholder = t(e.dataset.i18nPh); });
  $("#lang-toggle").textContent = t("lang");
  if (S.me) { renderGrid(); renderIncidents(); loadPassages(); loadGates(); loadVisitors(); loadOutbox(); }
  emit("lang", S.lang);
}

// ---- login ----
function showLogin() {
  S.me = null;
  stopLive();
  $("#app").hidden = true; $("#logout").hidden = true; $("#who").textContent = "";
  $("#login").hidden = false;
  $("#login-name").focus();
  emit("stop");
}

async function start(me) {
  S.me = me; S.csrf = me.csrf_token || "";
  try {
    S.site = await api("GET", "/api/site");
    S.tz = S.site.timezone; timeFmt = null;
    // The site's language until the operator picks one on this screen.
    if (!localStorage.getItem("lw-lang") && S.site.language && S.site.language !== S.lang) { S.lang = S.site.language; applyLang(); }
  } catch (e) { /* an older gateway: the browser's zone */ }
  // A wall opened with its token (kiosk) has nobody to sign in again: no log-out button.
  $("#login").hidden = true; $("#app").hidden = false; $("#logout").hidden = !!me.kiosk;
  $("#who").textContent = `${me.name} (${me.role})`;
  await loadCameras();
  await loadIncidents();
  connectEvents();
  loadPassages();
  loadInside();
  loadGates();
  loadVisitors();
  loadOutbox();
  loadDevices();
  emit("start", me);
}

function stopLive() {
  if (S.es) { S.es.close(); S.es = null; }
  clearInterval(S.pollTimer); S.pollTimer = null;
  document.querySelectorAll(".tile img").forEach(i => i.removeAttribute("src"));
}

// The beep needs an AudioContext created during a user gesture; the login
// click (or any click on the wall) is one.
function unlockAudio() {
  if (S.audio) return;
  const AC = window.AudioContext || window.webkitAudioContext;
  if (AC) S.audio = new AC();
}
function beep() {
  const ctx = S.audio;
  if (!ctx) return;
  if (ctx.state === "suspended") ctx.resume();
  const now = ctx.currentTime;
  for (let i = 0; i < 3; i++) {
    const o = ctx.createOscillator(), g = ctx.createGain();
    o.type = "square"; o.frequency.value = i % 2 ? 660 : 880;
    g.gain.setValueAtTime(0.0001, now + i * 0.25);
    g.gain.exponentialRampToValueAtTime(0.3, now + i * 0.25 + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.25 + 0.2);
    o.connect(g).connect(ctx.destination);
    o.start(now + i * 0.25); o.stop(now + i * 0.25 + 0.22);
  }
}

// ---- cameras ----
// loadCameras re-renders the grid only when the set of cameras changed, so
// a periodic refresh of the states does not restart every live stream.
async function loadCameras(restartStreams) {
  const cams = await api("GET", "/api/cameras");
  const same = cams.length === S.cameras.length && cams.every((c, i) => c.id === S.cameras[i].id);
  S.cameras = cams;
  if (same && !restartStreams && $("#grid .tile")) cams.forEach(updateBadge);
  else renderGrid();
}

function visibleCameras() {
  if (S.full) return S.cameras.filter(c => c.id === S.full);
  const pages = Math.max(1, Math.ceil(S.cameras.length / S.layout));
  if (S.page >= pages) S.page = pages - 1;
  return S.cameras.slice(S.page * S.layout, (S.page + 1) * S.layout);
}

// Browsers open at most six HTTP/1.1 connections to one server, and the
// event stream takes one; so up to four tiles stream MJPEG and larger
// layouts poll the annotated snapshot, which the server encodes once for all.
function usePolling() { return !S.full && S.layout > 4; }

function renderGrid() {
  const grid = $("#grid");
  grid.className = "grid l" + (S.full ? 1 : S.layout);
  document.querySelectorAll("#layouts [data-layout]").forEach(b => b.classList.toggle("on", Number(b.dataset.layout) === S.layout));
  const pages = Math.max(1, Math.ceil(S.cameras.length / S.layout));
  $("#page-label").textContent = `${S.page + 1}/${pages}`;
  $("#page-prev").disabled = $("#page-next").disabled = pages < 2;
  clearInterval(S.pollTimer); S.pollTimer = null;
  // Drop the src first: a detached <img> may keep its MJPEG connection open
  // until garbage collection, and connections to the server are scarce.
  grid.querySelectorAll("img").forEach(i => i.removeAttribute("src"));
  grid.replaceChildren();
  const cams = visibleCameras();
  fitGrid(grid, cams.length, pages);
  if (!cams.length) { grid.append(el("div", "nocam", t("no_cameras"))); return; }
  const poll = usePolling();
  for (const c of cams) {
    const tile = el("div", "tile");
    tile.dataset.camera = c.id;
    if (S.full) tile.classList.add("full");
    const img = el("img");
    img.alt = "";
    if (!poll) img.src = `/api/cameras/${encodeURIComponent(c.id)}/mjpeg`;
    else if (S.frames.has(c.id)) img.src = S.frames.get(c.id); // an offline camera keeps its last frame
    const label = el("div", "label");
    label.append(el("span", "name", c.name), el("span", "badge"));
    tile.append(img, label);
    tile.addEventListener("click", () => { S.full = S.full ? null : c.id; renderGrid(); });
    grid.append(tile);
    updateBadge(c);
  }
  if (poll) { pollFrames(); S.pollTimer = setInterval(pollFrames, 250); }
}

// fitGrid: when every camera fits on one page, arrange the tiles so that the
// 16:9 pictures are as large as the screen allows (two cameras on a wide
// wall: one above the other, not half a screen of empty 2x2 slots). With
// several pages the layout's fixed rows stay, so paging keeps the tile size.
function fitGrid(grid, n, pages) {
  grid.style.gridTemplateColumns = grid.style.gridTemplateRows = "";
  if (S.full || pages > 1 || n < 1) return;
  const W = grid.clientWidth, H = grid.clientHeight;
  if (!W || !H || window.matchMedia("(max-width: 1100px)").matches) return; // narrow: one column, scrolling
  let best = null;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = W / cols, h = H / rows, pw = Math.min(w, h * 16 / 9);
    if (!best || pw > best.pw) best = { cols, rows, pw };
  }
  grid.style.gridTemplateColumns = `repeat(${best.cols}, minmax(0, 1fr))`;
  grid.style.gridTemplateRows = `repeat(${best.rows}, minmax(0, 1fr))`;
}

// pollFrames refreshes every polling tile whose previous frame has arrived;
// an offline camera's tile keeps its last frame.
function pollFrames() {
  document.querySelectorAll("#grid .tile").forEach(async tile => {
    if (tile.dataset.busy) return;
    tile.dataset.busy = "1";
    try {
      const r = await fetch(`/api/cameras/${encodeURIComponent(tile.dataset.camera)}/snapshot.jpg?annotate=1`,
        { cache: "no-store", credentials: "same-origin" });
      if (r.ok) {
        const url = URL.createObjectURL(await r.blob());
        const id = tile.dataset.camera, old = S.frames.get(id);
        $("img", tile).src = url;
        S.frames.set(id, url);
        if (old) URL.revokeObjectURL(old);
      } else if (r.status === 401) showLogin();
    } catch (e) { /* keep the last frame */ }
    delete tile.dataset.busy;
  });
}

function updateBadge(c) {
  const tile = document.querySelector(`.tile[data-camera="${CSS.escape(c.id)}"]`);
  if (!tile) return;
  const b = $(".badge", tile);
  b.className = "badge " + c.state;
  b.textContent = c.state === "offline" && c.since ? t("offline_since", { t: fmtTime(c.since) }) : t(c.state);
  b.title = c.reason || "";
  tile.classList.toggle("offline", c.state === "offline");
}

function onCamera(c) {
  const i = S.cameras.findIndex(x => x.id === c.id);
  if (i >= 0) S.cameras[i] = Object.assign(S.cameras[i], c);
  updateBadge(S.cameras[i] || c);
  emit("camera", c);
}

// ---- incidents ----
async function loadIncidents() {
  const list = await api("GET", "/api/incidents?" + S.feedQuery);
  S.incidents = new Map(list.map(i => [i.id, i]));
  renderIncidents();
}

function onIncident(inc) {
  const prev = S.incidents.get(inc.id);
  S.incidents.set(inc.id, inc);
  const loud = inc.severity === "high" || inc.severity === "critical";
  const alarm = (!prev && inc.state === "open") || (inc.state === "escalated" && (!prev || prev.state !== "escalated"));
  renderIncidents(alarm ? inc.id : null);
  emit("incident", { incident: inc, previous: prev, alarm });
  if (alarm && (S.soundFor ? S.soundFor(inc.severity) : loud)) beep();
  if (alarm && loud) {
    const f = $("#flash");
    f.classList.remove("on"); void f.offsetWidth; f.classList.add("on");
    const cam = inc.source && inc.source.camera;
    const tile = cam && document.querySelector(`.tile[data-camera="${CSS.escape(cam)}"]`);
    if (tile) { tile.classList.remove("alarm"); void tile.offsetWidth; tile.classList.add("alarm"); }
  }
}

function renderIncidents(fresh) {
  const ol = $("#incidents");
  const list = [...S.incidents.values()].filter(S.feedMatch || (() => true)).sort(feedOrder).slice(0, S.feedMax);
  ol.replaceChildren();
  if (!list.length) { ol.append(el("li", "empty", t("no_incidents"))); emit("feed", list); return; }
  const canAct = S.me && (S.me.role === "operator" || S.me.role === "admin");
  for (const inc of list) {
    const li = el("li", `incident ${inc.severity} ${inc.state}`);
    li.dataset.id = inc.id;
    if (inc.id === fresh) li.classList.add("new");
    li.append(el("span", "title", inc.title || t(inc.type)));
    li.append(el("span", `state ${inc.state}`, t(inc.state)));
    const src = inc.source || {};
    const where = [src.camera, src.zone, src.line, src.gate].filter(Boolean).join(" / ");
    const meta = [t(inc.type), t(inc.severity), where, fmtTime(inc.started_at)];
    if (inc.count > 1) meta.push(t("count", { n: inc.count }));
    if (inc.plate) meta.push(inc.plate);
    const last = (inc.acks || [])[inc.acks.length - 1];
    if (last) meta.push(t("by", { n: last.by }) + (last.note ? `: ${last.note}` : ""));
    li.append(el("span", "meta", meta.join(" · ")));
    if (canAct && inc.state !== "resolved") {
      const act = el("span", "actions");
      const note = el("input", "note");
      note.placeholder = t("note_prompt"); note.maxLength = 500;
      // Keep a note being typed across re-renders caused by other incidents.
      note.value = S.notes.get(inc.id) || "";
      note.addEventListener("input", () => S.notes.set(inc.id, note.value));
      act.append(note);
      if (inc.state !== "acknowledged") act.append(actionButton(inc, "ack", note));
      act.append(actionButton(inc, "resolve", note));
      li.append(act);
    }
    if (inc.evidence && inc.evidence.snapshot && inc.state !== "resolved") {
      const img = el("img", "thumb");
      img.loading = "lazy"; img.alt = ""; img.src = inc.evidence.snapshot;
      img.onerror = () => img.remove();
      li.append(img);
    }
    ol.append(li);
  }
  emit("feed", list);
}

function actionButton(inc, action, noteInput) {
  const b = el("button", action, t(action));
  b.type = "button";
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      const updated = await api("POST", `/api/incidents/${encodeURIComponent(inc.id)}/${action}`, { note: noteInput.value.trim() });
      S.notes.delete(inc.id);
      S.incidents.set(updated.id, updated);
      renderIncidents();
    } catch (e) {
      b.disabled = false;
      alert(t("error", { e: e.message }));
    }
  });
  return b;
}

// ---- events ----
function connectEvents() {
  if (S.es) S.es.close();
  const es = new EventSource("/api/events");
  S.es = es;
  const dot = $("#sse-state");
  es.onopen = () => {
    dot.classList.add("live");
    // Changes made while disconnected are not replayed: reload the lists.
    // The live streams broke with the event stream (a gateway restart): reopen them.
    if (es.reconnected) { loadIncidents(); loadCameras(true); loadPassages(); loadInside(); }
    es.reconnected = true;
  };
  es.onerror = () => {
    dot.classList.remove("live");
    api("GET", "/api/me").catch(() => {}); // a 401 shows the login form
  };
  es.addEventListener("incident", ev => onIncident(JSON.parse(ev.data)));
  es.addEventListener("camera", ev => onCamera(JSON.parse(ev.data)));
  es.addEventListener("passage", ev => emit("passage", JSON.parse(ev.data)));
}

// ---- vehicles ----
function passageQuery() {
  const q = new URLSearchParams();
  const plate = $("#v-plate").value.trim();
  if (plate) q.set("plate", plate);
  const since = $("#v-since").value, until = $("#v-until").value;
  if (since) q.set("since", new Date(since).toISOString());
  if (until) q.set("until", new Date(until).toISOString());
  return q;
}

async function loadPassages() {
  const q = passageQuery();
  const csv = new URLSearchParams(q); csv.set("format", "csv");
  $("#v-csv").href = "/api/vehicles/passages?" + csv;
  q.set("limit", "200");
  const body = $("#passages tbody");
  try {
    const list = await api("GET", "/api/vehicles/passages?" + q);
    $("#v-error").textContent = "";
    body.replaceChildren();
    if (!list.length) {
      const tr = el("tr"); const td = el("td", "", t("no_passages")); td.colSpan = 6; tr.append(td); body.append(tr);
    }
    for (const p of list) body.append(passageRow(p));
    emit("passages", list);
  } catch (e) {
    $("#v-error").textContent = e.status === 400 ? t("error", { e: e.message }) : t("error", { e: e.message });
  }
}

// passageRow is one line of the vehicle log; desk.js adds live ones with it.
function passageRow(p) {
  const tr = el("tr", "passage " + p.class);
  tr.dataset.id = p.id;
  const plate = el("td", "plate");
  if (p.snapshot) {
    const img = el("img", "pthumb");
    img.loading = "lazy"; img.alt = ""; img.src = p.snapshot;
    img.onerror = () => img.remove();
    plate.append(img);
  }
  plate.append(el("span", "ptext", p.plate));
  tr.append(el("td", "", fmtTime(p.at)), el("td", "", p.gate), el("td", "", t(p.direction)),
    plate, el("td", p.class, t(p.class)), el("td", "", fmtDwell(p.dwell_s)));
  return tr;
}

async function loadInside() {
  try {
    const list = await api("GET", "/api/vehicles/inside");
    $("#inside-count").textContent = String(list.length);
    emit("inside", list);
  } catch (e) { $("#inside-count").textContent = "–"; }
}

// ---- gates: barrier opening by an operator (audited by the gateway) ----
async function loadGates() {
  const box = $("#gates");
  const canAct = S.me && (S.me.role === "operator" || S.me.role === "admin");
  box.hidden = true;
  if (!canAct) return;
  let gates = [];
  try { gates = await api("GET", "/api/gates"); } catch (e) { return; }
  const btns = $("#gate-buttons");
  btns.replaceChildren();
  for (const g of gates) {
    const b = el("button", "gate-open", t("open_gate", { g: g.name || g.id }));
    b.type = "button";
    b.dataset.gate = g.id;
    b.addEventListener("click", () => openGate(g));
    btns.append(b);
  }
  box.hidden = gates.length === 0;
}

async function openGate(g) {
  const reason = $("#gate-reason").value.trim();
  const out = $("#gate-result");
  if (!reason) { out.textContent = t("reason_needed"); return; }
  try {
    await api("POST", "/api/gates/" + encodeURIComponent(g.id) + "/open", { reason });
    $("#gate-reason").value = "";
    out.textContent = t("gate_opened", { g: g.name || g.id });
  } catch (e) { out.textContent = t("error", { e: e.message }); }
}

// ---- visitors: temporary plates, added by operators at the gate ----
function localInput(d) {
  const p = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function canOperate() { return S.me && (S.me.role === "operator" || S.me.role === "admin"); }

async function loadVisitors() {
  const form = $("#visitor-form");
  form.hidden = !canOperate();
  if (!$("#vis-from").value) {
    const now = new Date();
    $("#vis-from").value = localInput(now);
    $("#vis-until").value = localInput(new Date(now.getTime() + 4 * 3600e3));
  }
  const body = $("#visitor-list tbody");
  let list;
  try { list = await api("GET", "/api/vehicles/visitors"); } catch (e) { $("#vis-error").textContent = t("error", { e: e.message }); return; }
  body.replaceChildren();
  $("#visitor-count").textContent = list.length ? String(list.length) : "";
  if (!list.length) {
    const tr = el("tr"); const td = el("td", "", t("no_visitors")); td.colSpan = 6; tr.append(td); body.append(tr);
  }
  for (const v of list) {
    const tr = el("tr");
    tr.dataset.plate = v.plate;
    const act = el("td");
    if (canOperate()) {
      const b = el("button", "visitor-remove", t("remove"));
      b.type = "button";
      b.addEventListener("click", async () => {
        try {
          await api("DELETE", "/api/vehicles/visitors/" + encodeURIComponent(v.plate));
          $("#vis-error").textContent = "";
        } catch (e) { $("#vis-error").textContent = t("error", { e: e.message }); }
        loadVisitors();
      });
      act.append(b);
    }
    tr.append(el("td", "plate", v.plate), el("td", "", v.unit), el("td", "", fmtTime(v.valid_from)),
      el("td", "", fmtTime(v.valid_until)), el("td", "", v.note), act);
    body.append(tr);
  }
}

async function addVisitor(e) {
  e.preventDefault();
  const out = $("#vis-error");
  const from = $("#vis-from").value, until = $("#vis-until").value;
  try {
    const v = await api("POST", "/api/vehicles/visitors", {
      plate: $("#vis-plate").value.trim(), unit: $("#vis-unit").value.trim(), note: $("#vis-note").value.trim(),
      valid_from: from ? new Date(from).toISOString() : "", valid_until: until ? new Date(until).toISOString() : "",
    });
    $("#vis-plate").value = ""; $("#vis-unit").value = ""; $("#vis-note").value = "";
    out.textContent = t("visitor_added", { p: v.plate });
  } catch (ex) { out.textContent = t("error", { e: ex.message }); }
  loadVisitors();
}

// ---- outbox: tickets the platform refused, for admins ----
async function loadOutbox() {
  const box = $("#outbox-box");
  box.hidden = !(S.me && S.me.role === "admin");
  if (box.hidden) return;
  let list;
  try { list = await api("GET", "/api/outbox"); } catch (e) { $("#ob-error").textContent = t("error", { e: e.message }); return; }
  const dead = list.filter(x => x.state === "dead").length;
  $("#outbox-summary").textContent = list.length ? t("outbox_summary", { d: dead, p: list.length - dead }) : "";
  $("#outbox-summary").className = dead ? "dead" : "";
  const body = $("#outbox-list tbody");
  body.replaceChildren();
  if (!list.length) {
    const tr = el("tr"); const td = el("td", "", t("no_tickets")); td.colSpan = 5; tr.append(td); body.append(tr);
  }
  for (const k of list) {
    const tr = el("tr", k.state);
    tr.dataset.key = k.key;
    const answer = k.state === "dead" ? `${k.last_status || ""} ${k.response || ""}`.trim() : (k.last_error || "");
    const act = el("td");
    if (k.state === "dead") {
      for (const [action, label] of [["resend", "resend"], ["discard", "discard"]]) {
        const b = el("button", "ob-" + action, t(label));
        b.type = "button";
        b.addEventListener("click", async () => {
          if (action === "discard" && !window.confirm(t("discard_confirm", { k: k.key }))) return;
          try {
            await api("POST", "/api/outbox/" + encodeURIComponent(k.key) + "/" + action);
            $("#ob-error").textContent = "";
          } catch (e) { $("#ob-error").textContent = t("error", { e: e.message }); }
          loadOutbox();
        });
        act.append(b);
      }
    }
    tr.append(el("td", "", k.key), el("td", "", t(k.state)), el("td", "", String(k.attempts)), el("td", "answer", answer), act);
    body.append(tr);
  }
}

// ---- patrol phones: device tokens with a QR code, for admins ----
async function loadDevices() {
  const box = $("#devices-box");
  box.hidden = !(S.me && S.me.role === "admin");
  if (box.hidden) return;
  let list;
  try { list = await api("GET", "/api/devices"); } catch (e) { box.hidden = true; return; } // no patrol parts wired
  $("#device-count").textContent = list.length ? String(list.length) : "";
  const body = $("#device-list tbody");
  body.replaceChildren();
  if (!list.length) { const tr = el("tr"); tr.append(el("td", "", t("no_devices"))); body.append(tr); }
  for (const d of list) {
    const tr = el("tr"); tr.dataset.id = d.id;
    const b = el("button", "dev-revoke", t("revoke")); b.type = "button";
    b.addEventListener("click", async () => {
      try { await api("DELETE", "/api/devices/" + encodeURIComponent(d.id)); } catch (e) { $("#dev-error").textContent = t("error", { e: e.message }); }
      loadDevices();
    });
    const act = el("td"); act.append(b);
    tr.append(el("td", "", d.name), el("td", "", d.role), el("td", "", fmtTime(d.created)), act);
    body.append(tr);
  }
}

async function issueDevice(ev) {
  ev.preventDefault();
  const name = $("#dev-name").value.trim(), role = $("#dev-role").value;
  try {
    const d = await api("POST", "/api/devices", { name, role });
    const fig = $("#dev-qr");
    fig.querySelector("img").src = d.qr_png; // a data: URL made by the gateway
    fig.querySelector("figcaption").textContent = t("device_qr", { n: name });
    fig.hidden = false;
    $("#dev-error").textContent = ""; $("#dev-name").value = "";
  } catch (e) { $("#dev-error").textContent = t("error", { e: e.message }); }
  loadDevices();
}

window.LW = { S, api, t, el, fmtTime, fmtDwell, canOperate, passageRow, passageQuery, beep, unlockAudio, feedOrder, emit,
  loadIncidents, renderIncidents, renderGrid, loadPassages, loadInside, loadVisitors, I18N };

// ---- wiring ----
function tick() { $("#clock").textContent = fmtTime(new Date().toISOString()); }

document.addEventListener("DOMContentLoaded", async () => {
  applyLang();
  tick(); setInterval(tick, 1000);
  document.addEventListener("click", unlockAudio, { capture: true });
  $("#lang-toggle").addEventListener("click", () => {
    S.lang = S.lang === "zh" ? "en" : "zh";
    localStorage.setItem("lw-lang", S.lang);
    applyLang();
  });
  document.querySelectorAll("#layouts [data-layout]").forEach(b => b.addEventListener("click", () => {
    S.layout = Number(b.dataset.layout); S.page = 0; S.full = null;
    localStorage.setItem("lw-layout", String(S.layout));
    renderGrid();
  }));
  window.addEventListener("resize", () => {
    if (S.me) fitGrid($("#grid"), visibleCameras().length, Math.max(1, Math.ceil(S.cameras.length / S.layout)));
  });
  $("#page-prev").addEventListener("click", () => { S.page = Math.max(0, S.page - 1); renderGrid(); });
  $("#page-next").addEventListener("click", () => { S.page++; renderGrid(); });
  document.addEventListener("keydown", e => { if (e.key === "Escape" && S.full) { S.full = null; renderGrid(); } });
  $("#login-form").addEventListener("submit", async e => {
    e.preventDefault();
    unlockAudio();
    const err = $("#login-error");
    err.textContent = "";
    try {
      const me = await api("POST", "/api/login", { name: $("#login-name").value, password: $("#login-password").value });
      $("#login-password").value = "";
      await start(me);
    } catch (ex) {
      err.textContent = ex.status === 429 ? t("rate_limited", { s: ex.retryAfter || 60 })
        : ex.status === 401 ? t("bad_login") : t("error", { e: ex.message });
    }
  });
  $("#logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch (e) { /* session already gone */ }
    showLogin();
  });
  $("#vehicle-search").addEventListener("submit", e => { e.preventDefault(); loadPassages(); loadInside(); });
  $("#visitor-form").addEventListener("submit", addVisitor);
  $("#visitors").addEventListener("toggle", () => { if ($("#visitors").open) loadVisitors(); });
  $("#outbox").addEventListener("toggle", () => { if ($("#outbox").open) loadOutbox(); });
  $("#devices").addEventListener("toggle", () => { if ($("#devices").open) loadDevices(); });
  $("#device-form").addEventListener("submit", issueDevice);
  setInterval(() => { if (S.me) { loadInside(); loadCameras().catch(() => {}); loadOutbox(); } }, 30000);
  // /api/me renews the session cookie's lifetime: an unattended wall stays signed in.
  setInterval(() => { if (S.me) api("GET", "/api/me").catch(() => {}); }, 10 * 60 * 1000);
  try { await start(await api("GET", "/api/me")); } catch (e) { showLogin(); }
});
