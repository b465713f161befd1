// lanewatch patrol page: incidents for an officer's phone. Works on a flaky
// Wi-Fi: actions go to a queue in IndexedDB and are sent, in order, with an
// Idempotency-Key, until the gateway has them; the service worker keeps the
// last list for when the gateway cannot be reached.
"use strict";

const T = {
  zh: { title: "巡逻", signin: "登录巡逻", name: "账号", password: "密码", login: "登录", empty: "没有待处理的事件",
    clip: "播放片段", ack: "出发", addnote: "备注", photo: "拍照", resolve: "处理完毕", push: "接收提醒",
    pushOn: "提醒已开启", pushFail: "无法开启提醒", notePh: "备注（可选）",
    offline: "离线", online: "已连接", queued: n => `${n} 项操作待发送`, cached: "显示的是缓存的列表",
    refused: "服务器拒绝了操作", badLogin: "账号或密码错误", lang: "EN",
    sev: { critical: "紧急", high: "高", medium: "中", low: "低" },
    state: { open: "待处理", acknowledged: "已出发", escalated: "已升级", resolved: "已处理" } },
  en: { title: "Patrol", signin: "Sign in to patrol", name: "Name", password: "Password", login: "Sign in", empty: "No open incidents",
    clip: "Play clip", ack: "On my way", addnote: "Add note", photo: "Photo", resolve: "Resolve", push: "Alerts",
    pushOn: "Alerts on", pushFail: "Cannot turn alerts on", notePh: "Note (optional)",
    offline: "Offline", online: "Online", queued: n => `${n} action(s) waiting to be sent`, cached: "showing the cached list",
    refused: "The gateway refused an action", badLogin: "Wrong name or password", lang: "中文",
    sev: { critical: "critical", high: "high", medium: "medium", low: "low" },
    state: { open: "open", acknowledged: "on the way", escalated: "escalated", resolved: "resolved" } },
};

const S = { lang: localStorage.getItem("patrol.lang") || "", token: localStorage.getItem("patrol.device") || "",
  csrf: "", cfg: null, list: [], offline: false, cached: false, queued: 0, flushing: false };
const $ = sel => document.querySelector(sel);
const t = () => T[S.lang] || T.zh;

// A device link carries its token in the fragment (never sent to a server);
// keep it on the phone and take it out of the address bar.
(function takeDeviceToken() {
  const m = /(?:^#|&)device=([A-Za-z0-9_-]{16,200})/.exec(location.hash);
  if (m) {
    S.token = m[1];
    localStorage.setItem("patrol.device", S.token);
    history.replaceState(null, "", location.pathname);
  }
})();

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (S.token) h.Authorization = "Bearer " + S.token;
  else if (S.csrf) h["X-CSRF-Token"] = S.csrf;
  return h;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, x => x.toString(16).padStart(2, "0")).join("");
}

// ---- the queue (IndexedDB) ----
let dbp = null;
function db() {
  dbp = dbp || new Promise((ok, fail) => {
    const r = indexedDB.open("lanewatch-patrol", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  return dbp;
}
async function store(mode, fn) {
  const d = await db();
  return new Promise((ok, fail) => {
    const tx = d.transaction("queue", mode);
    const req = fn(tx.objectStore("queue"));
    tx.oncomplete = () => ok(req && req.result);
    tx.onerror = () => fail(tx.error);
  });
}
const queueAll = () => store("readonly", s => s.getAll());
const queueAdd = item => store("readwrite", s => s.add(item));
const queueDel = seq => store("readwrite", s => s.delete(seq));

async function enqueue(id, action, body, type) {
  await queueAdd({ key: uuid(), id, action, body, type: type || "application/json", at: Date.now() });
  await refreshQueued();
  flush();
}

// flush sends queued actions in order. A network failure stops it (the
// gateway is away; retried on a timer and when the phone is back online);
// 5xx and 429 stop it too; other answers are final and leave the queue.
async function flush() {
  if (S.flushing) return;
  S.flushing = true;
  try {
    for (const item of await queueAll()) {
      const url = "/api/patrol/incidents/" + encodeURIComponent(item.id) + "/" + item.action;
      let r;
      try {
        r = await fetch(url, { method: "POST", headers: headers({ "Content-Type": item.type, "Idempotency-Key": item.key }),
          body: item.body, credentials: "same-origin", cache: "no-store" });
      } catch (e) {
        setOffline(true);
        return;
      }
      setOffline(false);
      if (r.status >= 500 || r.status === 429 || r.status === 401) {
        if (r.status === 401) showLogin();
        return;
      }
      if (!r.ok) toast(t().refused + ": " + ((await r.json().catch(() => ({}))).error || r.status));
      await queueDel(item.seq);
      await refreshQueued();
    }
  } finally {
    S.flushing = false;
    await refreshQueued();
  }
  if (!S.offline) loadList();
}

async function refreshQueued() {
  S.queued = (await queueAll()).length;
  renderNet();
}

function setOffline(off) {
  S.offline = off;
  renderNet();
}

function renderNet() {
  const n = $("#net");
  const parts = [];
  if (S.offline || !navigator.onLine) parts.push(t().offline);
  if (S.cached && (S.offline || !navigator.onLine)) parts.push(t().cached);
  if (S.queued) parts.push(t().queued(S.queued));
  n.textContent = parts.join(" · ");
  n.className = S.offline || !navigator.onLine ? "offline" : "";
  n.hidden = parts.length === 0;
  document.body.dataset.queued = String(S.queued);
  document.body.dataset.offline = String(S.offline || !navigator.onLine);
}

function toast(msg) {
  const el = $("#toast");
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toast.tm);
  toast.tm = setTimeout(() => { el.hidden = true; }, 5000);
}

// ---- list ----
async function loadList() {
  let r;
  try {
    r = await fetch("/api/patrol/incidents", { headers: headers(), credentials: "same-origin" });
  } catch (e) {
    setOffline(true);
    return;
  }
  if (r.status === 401) return showLogin();
  if (!r.ok) return;
  S.cached = r.headers.get("X-Patrol-Cache") === "1";
  setOffline(S.cached);
  S.list = await r.json();
  render();
}

function fmtTime(s) {
  const d = new Date(s);
  return d.toLocaleString(S.lang === "en" ? "en-GB" : "zh-CN", { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

// render rebuilds the cards only when the list or the language changed: the
// list is reloaded every few seconds, and rebuilding would take the keyboard
// away from an officer typing a note. When it does rebuild, notes, open clips
// and the caret stay.
function render() {
  const key = S.lang + JSON.stringify(S.list);
  $("#empty").hidden = S.list.length > 0;
  if (key === S.rendered) return;
  S.rendered = key;
  const ul = $("#list");
  const open = new Set(Array.from(ul.querySelectorAll("video:not([hidden])"), v => v.closest("li.inc").dataset.id));
  const notes = {};
  ul.querySelectorAll(":scope > li.inc").forEach(li => { notes[li.dataset.id] = li.querySelector(".note").value; });
  const f = document.activeElement;
  const focused = f && f.classList.contains("note") && f.closest("li.inc")
    ? { id: f.closest("li.inc").dataset.id, from: f.selectionStart, to: f.selectionEnd } : null;
  ul.textContent = "";
  for (const inc of S.list) ul.appendChild(card(inc, open.has(inc.id), notes[inc.id] || ""));
  if (focused) {
    const ta = Array.from(ul.querySelectorAll(":scope > li.inc")).find(li => li.dataset.id === focused.id)?.querySelector(".note");
    if (ta) { ta.focus(); ta.setSelectionRange(focused.from, focused.to); }
  }
}

function card(inc, clipOpen, note) {
  const li = $("#card").content.firstElementChild.cloneNode(true);
  li.dataset.id = inc.id;
  li.classList.add(inc.severity, inc.state);
  li.querySelector(".sev").textContent = t().sev[inc.severity] || inc.severity;
  li.querySelector(".title").textContent = inc.title;
  const src = inc.source || {};
  li.querySelector(".place").textContent = [src.camera, src.zone || src.line || src.gate].filter(Boolean).join(" / ");
  const tm = li.querySelector("time");
  tm.dateTime = inc.started_at;
  tm.textContent = fmtTime(inc.started_at);
  li.querySelector(".state").textContent = t().state[inc.state] || inc.state;
  const img = li.querySelector(".snap");
  if (inc.snapshot_url) img.src = inc.snapshot_url; else img.hidden = true;
  const cb = li.querySelector(".clip-btn"), v = li.querySelector(".clip");
  if (inc.clip_url) {
    cb.onclick = () => { v.hidden = !v.hidden; if (!v.hidden && !v.src) v.src = inc.clip_url; };
    if (clipOpen) { v.hidden = false; v.src = inc.clip_url; }
  } else cb.hidden = true;
  const ol = li.querySelector(".acks");
  for (const a of inc.acks || []) {
    const el = document.createElement("li");
    el.textContent = `${fmtTime(a.at)} ${a.by}${a.note ? ": " + a.note : ""}`;
    ol.appendChild(el);
  }
  const ta = li.querySelector(".note");
  ta.placeholder = t().notePh;
  ta.value = note;
  const act = (action, label) => async () => {
    const text = ta.value.trim();
    if (action === "note" && !text) { ta.focus(); return; }
    ta.value = "";
    pending(li, label);
    await enqueue(inc.id, action, JSON.stringify({ note: text }));
  };
  li.querySelector(".ack").onclick = act("ack", t().ack);
  li.querySelector(".addnote").onclick = act("note", t().addnote);
  li.querySelector(".resolve").onclick = act("resolve", t().resolve);
  li.querySelector(".photo input").onchange = async ev => {
    const f = ev.target.files[0];
    if (!f) return;
    pending(li, t().photo);
    await enqueue(inc.id, "photo", f, f.type || "image/jpeg");
  };
  applyI18n(li);
  return li;
}

function pending(li, label) {
  const p = li.querySelector(".pending");
  p.textContent = "⏳ " + label;
  p.hidden = false;
}

// ---- sign in ----
function showLogin() {
  $("#main").hidden = true;
  $("#login-form").hidden = false;
}

$("#login-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    const r = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ name: $("#login-name").value, password: $("#login-password").value }) });
    if (!r.ok) { $("#login-error").textContent = t().badLogin; return; }
    S.csrf = (await r.json()).csrf_token || "";
    await start();
  } catch (e) {
    setOffline(true);
  }
});

async function start() {
  let r;
  try {
    r = await fetch("/api/patrol/config", { headers: headers(), credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    // Gateway away at start: show what the service worker kept.
    setOffline(true);
    $("#main").hidden = false;
    return loadList();
  }
  if (r.status === 401) {
    if (S.token) { S.token = ""; localStorage.removeItem("patrol.device"); } // revoked
    return showLogin();
  }
  S.cfg = await r.json();
  if (!S.lang) S.lang = S.cfg.language || "zh";
  if (!S.token) {
    const me = await fetch("/api/me", { credentials: "same-origin" }).then(x => x.json()).catch(() => ({}));
    S.csrf = me.csrf_token || S.csrf;
  }
  $("#who").textContent = S.cfg.user;
  $("#login-form").hidden = true;
  $("#main").hidden = false;
  $("#push").hidden = !(S.cfg.push && "PushManager" in window && "serviceWorker" in navigator);
  applyI18n(document);
  await loadList();
  flush();
}

// ---- Web Push ----
function b64ToBytes(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(b, c => c.charCodeAt(0));
}

$("#push").addEventListener("click", async () => {
  try {
    if ((await Notification.requestPermission()) !== "granted") throw new Error("denied");
    const key = (await (await fetch("/api/push/key", { headers: headers(), credentials: "same-origin" })).json()).public_key;
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(key) });
    const r = await fetch("/api/push/subscriptions", { method: "POST", credentials: "same-origin",
      headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(sub.toJSON()) });
    if (!r.ok) throw new Error(String(r.status));
    toast(t().pushOn);
  } catch (e) {
    toast(t().pushFail);
  }
});

// ---- language ----
function applyI18n(root) {
  root.querySelectorAll("[data-i18n]").forEach(el => {
    const v = t()[el.dataset.i18n];
    if (typeof v === "string") el.textContent = v;
  });
  if (root === document) {
    document.documentElement.lang = S.lang === "en" ? "en" : "zh-CN";
    $("#lang").textContent = t().lang;
    document.title = t().title + " · lanewatch";
    renderNet();
  }
}

$("#lang").addEventListener("click", () => {
  S.lang = S.lang === "en" ? "zh" : "en";
  localStorage.setItem("patrol.lang", S.lang);
  applyI18n(document);
  render();
});

if (!S.lang) S.lang = "zh";
applyI18n(document);
window.addEventListener("online", () => { renderNet(); flush(); });
window.addEventListener("offline", renderNet);
setInterval(flush, 4000);
setInterval(() => { if (!S.offline) loadList(); }, 15000);
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js", { scope: "/patrol/" }).catch(() => {});
refreshQueued();
start();
