// lanewatch alarm desk (issue 14): alarm pop-ups, feed filters and history,
// armed sound, clip and recording playback, the live vehicle log and the
// site plan. It hooks into app.js only through window.LW and the "lw:*"
// events app.js dispatches. Plain JavaScript, all text via textContent.
"use strict";
(() => {
  const LW = window.LW;
  const { S, api, t, el } = LW;
  Object.assign(LW.I18N.en, {
    unhandled: "Unhandled", arm_sound: "Arm sound", sound_on: "Sound on", sound_sev: "Sound for",
    sev_critical: "critical only", sev_high: "high and critical", sev_all: "every alarm",
    all_states: "any state", all_types: "any type", all_sources: "any camera or gate", apply: "Filter",
    older: "Older…", no_more: "No older incidents", live: "Live", snapshot: "Snapshot", clip: "Clip",
    play_clip: "Play clip", no_clip: "clip not ready yet", more_waiting: "+{n} waiting",
    playback: "Playback", go: "Go", close: "Close", no_recording: "No recording at {t}",
    recorded: "recorded", passages: "passages", plan: "Site plan", no_plan: "No site plan configured",
    add_as_visitor: "+ visitor", overstay: "overstay", alarm_from: "{c}",
  });
  Object.assign(LW.I18N.zh, {
    unhandled: "未处理", arm_sound: "开启声音", sound_on: "声音已开", sound_sev: "提示音",
    sev_critical: "仅紧急", sev_high: "高和紧急", sev_all: "全部报警",
    all_states: "全部状态", all_types: "全部类型", all_sources: "全部摄像机/出入口", apply: "筛选",
    older: "更早…", no_more: "没有更早的事件", live: "实时", snapshot: "抓拍", clip: "录像片段",
    play_clip: "播放片段", no_clip: "片段尚未生成", more_waiting: "还有 {n} 条",
    playback: "回放", go: "跳转", close: "关闭", no_recording: "{t} 没有录像",
    recorded: "已录像", passages: "通行", plan: "平面图", no_plan: "未配置平面图",
    add_as_visitor: "+ 访客", overstay: "超时", alarm_from: "{c}",
  });

  const D = {
    gates: [],          // GET /api/gates, with their cameras
    // open: the unhandled incidents by id, whatever the feed's filter shows;
    // the counter, the pop-up queue and the plan's markers read it.
    open: new Map(),
    queue: [],          // alarm pop-up queue (incident ids)
    shown: null,        // id in the pop-up
    liveTimer: null, liveURL: "",
    clips: new Map(),   // incident id -> <video> in its card, kept across re-renders
    soundArmed: false,
    sound: localStorage.getItem("lw-sound") || "high",
    oldest: "",         // paging cursor: last id of the loaded history
    plan: null,
  };
  const loud = sev => sev === "high" || sev === "critical";
  const unhandledState = s => s === "open" || s === "escalated";
  const byID = id => D.open.get(id) || S.incidents.get(id);
  // note keeps D.open and the pop-up queue up to date with an incident's state.
  function note(inc) {
    if (!unhandledState(inc.state)) { D.open.delete(inc.id); return; }
    D.open.set(inc.id, inc);
    enqueue(inc);
  }
  window.LWDesk = D; // for the browser tests and the benchmark

  // ---- header: unhandled counter, sound, playback and plan buttons ----
  function header() {
    const bar = document.getElementById("bar");
    const box = el("span", "desk-bar");
    const count = el("span", "unhandled");
    count.id = "unhandled";
    count.append(el("span", "", ""), el("b", "", "0"));
    const arm = el("button", "", "");
    arm.type = "button"; arm.id = "sound-arm";
    arm.addEventListener("click", () => {
      LW.unlockAudio();
      D.soundArmed = !D.soundArmed;
      if (D.soundArmed) LW.beep();
      paintHeader();
    });
    const sev = el("select");
    sev.id = "sound-sev";
    for (const v of ["critical", "high", "all"]) { const o = el("option", "", ""); o.value = v; sev.append(o); }
    sev.value = D.sound;
    sev.addEventListener("change", () => { D.sound = sev.value; localStorage.setItem("lw-sound", D.sound); });
    const pb = el("button", "", ""); pb.type = "button"; pb.id = "pb-open";
    pb.addEventListener("click", () => openPlayback(S.cameras[0] && S.cameras[0].id, Date.now() - 60e3));
    const plan = el("button", "", ""); plan.type = "button"; plan.id = "plan-open"; plan.hidden = true;
    plan.addEventListener("click", openPlan);
    box.append(count, arm, sev, pb, plan);
    bar.insertBefore(box, document.getElementById("clock"));
  }
  function paintHeader() {
    const c = document.getElementById("unhandled");
    c.firstChild.textContent = t("unhandled") + " ";
    c.lastChild.textContent = String(D.open.size);
    c.classList.toggle("hot", D.open.size > 0);
    const arm = document.getElementById("sound-arm");
    arm.textContent = D.soundArmed ? t("sound_on") : t("arm_sound");
    arm.classList.toggle("on", D.soundArmed);
    const sev = document.getElementById("sound-sev");
    for (const o of sev.options) o.textContent = t("sound_sev") + ": " + t("sev_" + o.value);
    document.getElementById("pb-open").textContent = t("playback");
    document.getElementById("plan-open").textContent = t("plan");
  }
  // Sound only once armed by a click (browsers need a gesture), for the
  // chosen severities.
  S.soundFor = sev => D.soundArmed && (D.sound === "all" || sev === "critical" || (D.sound === "high" && sev === "high"));

  // ---- the wall behind an overlay ----
  // While the playback or the plan covers the wall, its tiles stop
  // streaming: browsers open six connections per server, four tiles and the
  // event stream hold five, and the recording needs them more. The tiles
  // restart when the view closes. The alarm pop-up leaves the wall live
  // around it: it is what the guard looks at beside the alarm.
  const overlays = ["playback", "plan"];
  function pauseWall() {
    if (D.paused) return;
    D.paused = true;
    clearInterval(S.pollTimer); S.pollTimer = null;
    document.querySelectorAll("#grid .tile img").forEach(i => i.removeAttribute("src"));
  }
  function resumeWall() {
    if (!D.paused || overlays.some(id => !document.getElementById(id).hidden)) return;
    D.paused = false;
    if (S.me) LW.renderGrid();
  }

  // ---- feed: filters and history paging ----
  function feedFilters() {
    const feed = document.getElementById("feed");
    const f = el("form", "", undefined);
    f.id = "feed-filter";
    const sel = (id, opts) => {
      const s = el("select"); s.id = id;
      for (const [v, label] of opts) { const o = el("option", "", label); o.value = v; s.append(o); }
      return s;
    };
    f.append(sel("f-state", []), sel("f-type", []), sel("f-source", []));
    const since = el("input"); since.type = "datetime-local"; since.id = "f-since";
    const until = el("input"); until.type = "datetime-local"; until.id = "f-until";
    const go = el("button", "", ""); go.type = "submit"; go.id = "f-apply";
    f.append(since, until, go);
    f.addEventListener("submit", e => { e.preventDefault(); applyFilter(); });
    feed.insertBefore(f, document.getElementById("incidents"));
    const more = el("button", "", ""); more.type = "button"; more.id = "feed-more";
    more.addEventListener("click", olderPage);
    const note = el("p", "muted"); note.id = "feed-end";
    feed.append(more, note);
  }
  function paintFilters() {
    const fill = (id, opts) => {
      const s = document.getElementById(id), v = s.value;
      s.replaceChildren();
      for (const [val, label] of opts) { const o = el("option", "", label); o.value = val; s.append(o); }
      s.value = [...s.options].some(o => o.value === v) ? v : "";
    };
    fill("f-state", [["", t("all_states")], ...["open", "escalated", "acknowledged", "resolved"].map(s => [s, t(s)])]);
    const types = ["intrusion", "line_crossing", "loitering", "crowd", "fire_lane_blocked", "falling_object",
      "camera_offline", "camera_tamper", "gate_forced", "door_held_open", "tailgating", "blacklisted_vehicle",
      "vehicle_overstay", "sos"];
    fill("f-type", [["", t("all_types")], ...types.map(x => [x, t(x)])]);
    fill("f-source", [["", t("all_sources")], ...S.cameras.map(c => ["camera:" + c.id, t("camera") + " " + (c.name || c.id)]),
      ...D.gates.map(g => ["gate:" + g.id, t("gate") + " " + (g.name || g.id)])]);
    document.getElementById("f-since").title = t("from");
    document.getElementById("f-until").title = t("to");
    document.getElementById("f-apply").textContent = t("apply");
    document.getElementById("feed-more").textContent = t("older");
  }
  function filterParams() {
    const q = new URLSearchParams();
    const v = id => document.getElementById(id).value;
    if (v("f-state")) q.set("state", v("f-state"));
    if (v("f-type")) q.set("type", v("f-type"));
    const [kind, id] = v("f-source").split(":");
    if (kind && id) q.set(kind, id);
    if (v("f-since")) q.set("since", new Date(v("f-since")).toISOString());
    if (v("f-until")) q.set("until", new Date(v("f-until")).toISOString());
    return q;
  }
  // The filter is applied by the API for the history and here for what
  // arrives live, so that a filtered feed stays filtered.
  function applyFilter() {
    const q = filterParams();
    const state = q.get("state"), type = q.get("type"), cam = q.get("camera"), gate = q.get("gate");
    const since = q.get("since"), until = q.get("until");
    S.feedMatch = [...q.keys()].length === 0 ? null : inc => (!state || inc.state === state) && (!type || inc.type === type) &&
      (!cam || (inc.source || {}).camera === cam) && (!gate || (inc.source || {}).gate === gate) &&
      (!since || inc.updated_at >= since) && (!until || inc.started_at <= until);
    q.set("limit", "100");
    S.feedQuery = q.toString(); S.feedMax = 100;
    document.getElementById("feed-end").textContent = "";
    LW.loadIncidents().then(cursor);
  }
  function cursor() {
    // Ids sort by time: the smallest loaded id is where the next page starts.
    let oldest = "";
    for (const id of S.incidents.keys()) if (!oldest || id < oldest) oldest = id;
    D.oldest = oldest;
  }
  async function olderPage() {
    const q = filterParams();
    q.set("limit", "50");
    if (D.oldest) q.set("before", D.oldest);
    try {
      const list = await api("GET", "/api/incidents?" + q);
      for (const inc of list) S.incidents.set(inc.id, inc);
      S.feedMax += list.length;
      cursor();
      document.getElementById("feed-end").textContent = list.length < 50 ? t("no_more") : "";
      LW.renderIncidents();
    } catch (e) { document.getElementById("feed-end").textContent = t("error", { e: e.message }); }
  }

  // ---- the cards: clips play in place ----
  function decorateFeed() {
    for (const li of document.querySelectorAll("#incidents li.incident")) {
      const inc = byID(li.dataset.id);
      if (!inc) continue;
      li.classList.toggle("compact", inc.severity === "low");
      const clip = inc.evidence && inc.evidence.clip;
      const v = D.clips.get(inc.id);
      // Re-attach the card's video in the same task: a media element moved
      // before the next stable state keeps playing.
      if (v) { li.append(v); continue; }
      if (!clip) continue;
      const b = el("button", "play-clip", "▶ " + t("play_clip"));
      b.type = "button";
      b.addEventListener("click", () => {
        const video = clipVideo(clip);
        video.classList.add("card-clip");
        D.clips.set(inc.id, video);
        b.remove();
        li.append(video);
        video.play().catch(() => {});
      });
      li.append(b);
    }
  }
  function clipVideo(src) {
    const v = el("video");
    v.controls = true; v.muted = true; v.playsInline = true; v.preload = "auto";
    v.src = src;
    return v;
  }

  // ---- alarm pop-up ----
  function popupOverlay() {
    const o = el("div", "desk-overlay");
    o.id = "alarm"; o.hidden = true;
    o.setAttribute("role", "alertdialog");
    const box = el("div", "alarm-box");
    const head = el("header");
    head.append(el("span", "a-sev"), el("h2", "a-title"), el("span", "a-queue"));
    const media = el("div", "a-media");
    const fig = (cls, inner) => { const f = el("figure", cls); f.append(inner, el("figcaption")); return f; };
    const live = el("img"); live.id = "alarm-live"; live.alt = "";
    const snap = el("img"); snap.id = "alarm-snap"; snap.alt = "";
    const clip = el("video"); clip.id = "alarm-clip"; clip.controls = true; clip.muted = true; clip.playsInline = true;
    media.append(fig("a-live", live), fig("a-snap", snap), fig("a-clip", clip));
    const act = el("div", "a-actions");
    const note = el("input"); note.id = "alarm-note"; note.maxLength = 500;
    const ack = el("button", "ack"); ack.type = "button"; ack.id = "alarm-ack";
    ack.addEventListener("click", ackShown);
    const pb = el("button"); pb.type = "button"; pb.id = "alarm-playback";
    pb.addEventListener("click", () => {
      const inc = byID(D.shown);
      if (!inc) return;
      // Above the pop-up, which is there again when the playback closes.
      document.getElementById("playback").classList.add("over-alarm");
      openPlayback(alarmCamera(inc), Date.parse(inc.started_at) - 10e3);
    });
    const err = el("span", "error"); err.id = "alarm-error";
    act.append(note, ack, pb, err);
    box.append(head, el("p", "a-meta"), media, act);
    o.append(box);
    document.body.append(o);
  }
  function alarmCamera(inc) {
    const src = inc.source || {};
    if (src.camera) return src.camera;
    const g = D.gates.find(g => g.id === src.gate);
    return g && g.cameras && g.cameras[0] || "";
  }
  // Newest critical first: severity, then start time.
  function sortQueue() {
    D.queue.sort((a, b) => LW.feedOrder(D.open.get(a), D.open.get(b)));
  }
  function enqueue(inc) {
    if (!loud(inc.severity) || !unhandledState(inc.state)) return;
    if (!D.queue.includes(inc.id)) D.queue.push(inc.id);
  }
  function pruneQueue() {
    D.queue = D.queue.filter(id => D.open.has(id));
  }
  function showAlarm() {
    pruneQueue(); sortQueue();
    const o = document.getElementById("alarm");
    const id = D.queue[0];
    if (!id) { hideAlarm(); return; }
    const inc = byID(id);
    const same = D.shown === id;
    D.shown = id;
    o.hidden = false;
    const box = o.querySelector(".alarm-box");
    box.className = "alarm-box " + inc.severity;
    o.querySelector(".a-sev").textContent = t(inc.severity);
    o.querySelector(".a-title").textContent = inc.title || t(inc.type);
    o.querySelector(".a-queue").textContent = D.queue.length > 1 ? t("more_waiting", { n: D.queue.length - 1 }) : "";
    const src = inc.source || {};
    o.querySelector(".a-meta").textContent = [t(inc.type), [src.camera, src.zone, src.line, src.gate].filter(Boolean).join(" / "),
      LW.fmtTime(inc.started_at)].filter(Boolean).join(" · ");
    const cam = alarmCamera(inc);
    o.querySelector(".a-live figcaption").textContent = t("live") + (cam ? " · " + cam : "");
    o.querySelector(".a-snap figcaption").textContent = t("snapshot");
    const snap = document.getElementById("alarm-snap");
    const snapURL = inc.evidence && inc.evidence.snapshot || "";
    if (snapURL && snap.getAttribute("src") !== snapURL) snap.src = snapURL;
    snap.parentNode.hidden = !snapURL;
    const clip = document.getElementById("alarm-clip"), clipURL = inc.evidence && inc.evidence.clip || "";
    o.querySelector(".a-clip figcaption").textContent = clipURL ? t("clip") : t("clip") + ": " + t("no_clip");
    if (clipURL && clip.getAttribute("src") !== clipURL) { clip.src = clipURL; clip.play().catch(() => {}); }
    if (!clipURL) clip.removeAttribute("src");
    const canAct = LW.canOperate();
    const ack = document.getElementById("alarm-ack");
    ack.hidden = !canAct; document.getElementById("alarm-note").hidden = !canAct;
    ack.textContent = t("ack"); ack.disabled = false;
    document.getElementById("alarm-note").placeholder = t("note_prompt");
    document.getElementById("alarm-playback").textContent = t("playback");
    if (!same) { document.getElementById("alarm-note").value = ""; document.getElementById("alarm-error").textContent = ""; }
    // The gates' cameras may load after the alarm came: show the live
    // camera as soon as it is known.
    if (!same || cam !== D.liveCam) { D.liveCam = cam; startLive(cam); }
  }
  function hideAlarm() {
    if (D.shown === null && document.getElementById("alarm").hidden) return; // every feed render calls it
    D.shown = null; D.liveCam = null;
    document.getElementById("alarm").hidden = true;
    stopLive();
    const clip = document.getElementById("alarm-clip");
    clip.pause(); clip.removeAttribute("src"); clip.load();
  }
  // The pop-up polls the camera's annotated frame (shared with the wall's
  // tiles, encoded once) rather than opening one more MJPEG stream: the
  // wall's tiles already hold most of the browser's six connections.
  function startLive(cam) {
    stopLive();
    const img = document.getElementById("alarm-live");
    if (!cam) return;
    let busy = false;
    const poll = async () => {
      if (busy) return;
      busy = true;
      try {
        const r = await fetch(`/api/cameras/${encodeURIComponent(cam)}/snapshot.jpg?annotate=1`, { cache: "no-store", credentials: "same-origin" });
        if (r.ok && D.shown) {
          const url = URL.createObjectURL(await r.blob());
          img.src = url;
          if (D.liveURL) URL.revokeObjectURL(D.liveURL);
          D.liveURL = url;
        }
      } catch (e) { /* keep the last frame */ }
      busy = false;
    };
    poll();
    D.liveTimer = setInterval(poll, 250);
  }
  function stopLive() {
    clearInterval(D.liveTimer); D.liveTimer = null;
    const img = document.getElementById("alarm-live");
    if (img) img.removeAttribute("src");
    if (D.liveURL) { URL.revokeObjectURL(D.liveURL); D.liveURL = ""; }
  }
  async function ackShown() {
    const id = D.shown, ack = document.getElementById("alarm-ack");
    if (!id) return;
    ack.disabled = true;
    try {
      const updated = await api("POST", `/api/incidents/${encodeURIComponent(id)}/ack`, { note: document.getElementById("alarm-note").value.trim() });
      S.incidents.set(updated.id, updated);
      note(updated);
      LW.renderIncidents(); // prunes the queue and shows the next alarm
    } catch (e) {
      ack.disabled = false;
      document.getElementById("alarm-error").textContent = t("error", { e: e.message });
    }
  }

  async function loadUnhandled() {
    D.open.clear();
    for (const st of ["open", "escalated"]) {
      try {
        for (const inc of await api("GET", "/api/incidents?limit=1000&state=" + st)) {
          note(inc);
        }
      } catch (e) { /* the counter stays as it was */ }
    }
    paintHeader();
    LW.renderIncidents();
  }

  // ---- playback of recordings ----
  // P.starts: milliseconds from each seek to the video playing (the
  // benchmark reads them); autoplay off lets a test look at the seeked frame.
  const P = { camera: "", at: 0, span: 24 * 3600e3, segs: [], marks: [], seg: null, starts: [], autoplay: true };
  D.playback = P;
  function playbackOverlay() {
    const o = el("div", "desk-overlay");
    o.id = "playback"; o.hidden = true;
    const box = el("div", "pb-box");
    const head = el("header");
    const cam = el("select"); cam.id = "pb-camera";
    const at = el("input"); at.type = "datetime-local"; at.step = "1"; at.id = "pb-time";
    const go = el("button"); go.type = "button"; go.id = "pb-go";
    go.addEventListener("click", () => {
      const v = at.value ? new Date(at.value).getTime() : Date.now();
      P.camera = cam.value; P.at = v;
      loadTimeline().then(() => seek(v));
    });
    const zoom = el("span", "pb-zoom");
    for (const [label, ms] of [["24 h", 24 * 3600e3], ["6 h", 6 * 3600e3], ["1 h", 3600e3], ["10 min", 600e3]]) {
      const b = el("button", "", label); b.type = "button"; b.dataset.span = String(ms);
      b.addEventListener("click", () => { P.span = ms; loadTimeline(); });
      zoom.append(b);
    }
    const close = el("button", "pb-close"); close.type = "button"; close.id = "pb-close";
    close.addEventListener("click", closePlayback);
    const status = el("span", "pb-status"); status.id = "pb-status";
    head.append(el("h2", "pb-title"), cam, at, go, zoom, status, close);
    const video = el("video"); video.id = "pb-video"; video.controls = true; video.muted = true; video.playsInline = true;
    video.addEventListener("timeupdate", paintCursor);
    const tl = el("div", "pb-timeline"); tl.id = "pb-timeline";
    tl.addEventListener("click", e => {
      const r = tl.getBoundingClientRect();
      seek(P.from + (e.clientX - r.left) / r.width * (P.to - P.from));
    });
    box.append(head, video, tl, el("div", "pb-axis"));
    o.append(box);
    document.body.append(o);
  }
  function openPlayback(camera, at) {
    const o = document.getElementById("playback");
    const sel = document.getElementById("pb-camera");
    sel.replaceChildren();
    for (const c of S.cameras) { const op = el("option", "", c.name || c.id); op.value = c.id; sel.append(op); }
    P.camera = camera || (S.cameras[0] && S.cameras[0].id) || "";
    sel.value = P.camera;
    P.at = at || Date.now();
    document.getElementById("pb-time").value = localInput(new Date(P.at));
    o.querySelector(".pb-title").textContent = t("playback");
    document.getElementById("pb-go").textContent = t("go");
    document.getElementById("pb-close").textContent = t("close");
    o.hidden = false;
    pauseWall();
    return loadTimeline();
  }
  function closePlayback() {
    document.getElementById("playback").hidden = true;
    document.getElementById("playback").classList.remove("over-alarm");
    const v = document.getElementById("pb-video");
    v.pause(); v.removeAttribute("src"); v.load();
    P.seg = null;
    resumeWall();
  }
  function localInput(d) {
    const p = n => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  // loadTimeline lists the segments, incidents and passages of the window
  // around P.at and draws them.
  async function loadTimeline() {
    const now = Date.now();
    P.to = Math.min(P.at + P.span / 2, now + 60e3);
    P.from = P.to - P.span;
    const iso = ms => new Date(ms).toISOString();
    const cam = P.camera;
    const status = document.getElementById("pb-status");
    status.textContent = "";
    P.segs = [];
    P.marks = [];
    try {
      P.segs = (await api("GET", `/api/cameras/${encodeURIComponent(cam)}/recordings?from=${iso(P.from)}&to=${iso(P.to)}`))
        .map(s => Object.assign(s, { s: Date.parse(s.start), e: Date.parse(s.end) }));
    } catch (e) { status.textContent = t("error", { e: e.message }); }
    const gates = D.gates.filter(g => (g.cameras || []).includes(cam));
    try {
      const q = new URLSearchParams({ camera: cam, since: iso(P.from), until: iso(P.to), limit: "1000" });
      for (const inc of await api("GET", "/api/incidents?" + q)) P.marks.push({ kind: "inc " + inc.severity, at: Date.parse(inc.started_at), label: inc.title || t(inc.type) });
      for (const g of gates) {
        const qg = new URLSearchParams({ gate: g.id, since: iso(P.from), until: iso(P.to), limit: "1000" });
        for (const inc of await api("GET", "/api/incidents?" + qg)) P.marks.push({ kind: "inc " + inc.severity, at: Date.parse(inc.started_at), label: inc.title || t(inc.type) });
        for (const p of await api("GET", "/api/vehicles/passages?" + qg)) P.marks.push({ kind: "pas " + p.class, at: Date.parse(p.at), label: `${p.plate} ${t(p.direction)}` });
      }
    } catch (e) { /* marks are a help; the recording still plays */ }
    paintTimeline();
  }
  function paintTimeline() {
    const tl = document.getElementById("pb-timeline");
    const span = P.to - P.from;
    const pct = ms => ((ms - P.from) / span * 100) + "%";
    tl.replaceChildren();
    for (const s of P.segs) {
      const d = el("div", "pb-seg" + (s.live ? " live" : ""));
      d.style.left = pct(Math.max(s.s, P.from));
      d.style.width = ((Math.min(s.e, P.to) - Math.max(s.s, P.from)) / span * 100) + "%";
      d.title = LW.fmtTime(s.start) + " – " + LW.fmtTime(s.end);
      tl.append(d);
    }
    for (const m of P.marks) {
      if (m.at < P.from || m.at > P.to) continue;
      const d = el("div", "pb-mark " + m.kind);
      d.style.left = pct(m.at);
      d.title = LW.fmtTime(new Date(m.at).toISOString()) + " " + m.label;
      tl.append(d);
    }
    const c = el("div", "pb-cursor"); c.id = "pb-cursor";
    tl.append(c);
    const axis = document.querySelector("#playback .pb-axis");
    axis.replaceChildren();
    const n = span <= 600e3 ? 10 : 12; // whole minutes or hours per tick
    for (let i = 0; i <= n; i++) {
      const ms = P.from + span * i / n;
      const d = el("span", "", new Date(ms).toLocaleTimeString(S.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, hour: "2-digit", minute: "2-digit" }));
      d.style.left = (i / n * 100) + "%";
      axis.append(d);
    }
    paintCursor();
  }
  function paintCursor() {
    const c = document.getElementById("pb-cursor");
    const v = document.getElementById("pb-video");
    if (!c) return;
    const at = P.seg ? P.seg.s + v.currentTime * 1000 : P.at;
    c.style.left = ((at - P.from) / (P.to - P.from) * 100) + "%";
  }
  // seek loads the segment holding ms (or the next one after a gap) and
  // sets the video's currentTime to the offset.
  function seek(ms) {
    const seg = P.segs.find(s => s.s <= ms && ms < s.e) || P.segs.find(s => s.s > ms);
    const status = document.getElementById("pb-status");
    P.at = ms;
    if (!seg) { status.textContent = t("no_recording", { t: LW.fmtTime(new Date(ms).toISOString()) }); return; }
    status.textContent = LW.fmtTime(new Date(Math.max(ms, seg.s)).toISOString());
    const v = document.getElementById("pb-video");
    const off = Math.max(0, ms - seg.s) / 1000;
    const t0 = performance.now();
    // The first frame painted after the seek ends the "click to picture"
    // time (requestVideoFrameCallback; 'playing' where it is missing).
    const painted = () => P.starts.push(performance.now() - t0);
    const go = () => {
      v.currentTime = off;
      if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(painted);
      else v.addEventListener("playing", painted, { once: true });
      if (P.autoplay) v.play().catch(() => {});
    };
    if (P.seg && P.seg.id === seg.id && v.readyState >= 1) { go(); return; }
    P.seg = seg;
    v.addEventListener("loadedmetadata", go, { once: true });
    v.src = seg.url;
  }
  P.seek = seek;
  P.open = openPlayback;

  // ---- live vehicle log ----
  function searching() {
    return LW.passageQuery().toString() !== "";
  }
  function decoratePassage(tr, p) {
    if (p.class !== "unknown" || !LW.canOperate() || tr.querySelector(".as-visitor")) return;
    const b = el("button", "as-visitor", t("add_as_visitor"));
    b.type = "button";
    b.addEventListener("click", () => {
      const d = document.getElementById("visitors");
      d.open = true;
      document.getElementById("vis-plate").value = p.plate;
      document.getElementById("vis-unit").focus();
    });
    tr.querySelector("td.plate").append(b);
  }
  function onPassage(p) {
    if (!searching()) {
      const body = document.querySelector("#passages tbody");
      const empty = body.querySelector("tr:not([data-id])");
      if (empty) empty.remove();
      if (!body.querySelector(`tr[data-id="${CSS.escape(p.id)}"]`)) {
        const tr = LW.passageRow(p);
        tr.classList.add("fresh");
        decoratePassage(tr, p);
        body.prepend(tr);
        while (body.children.length > 200) body.lastChild.remove();
      }
    }
    LW.loadInside();
  }
  function renderInside(list) {
    let box = document.getElementById("inside-list");
    if (!box) {
      box = el("div"); box.id = "inside-list";
      const vs = document.getElementById("vehicle-search");
      vs.parentNode.insertBefore(box, vs);
    }
    box.replaceChildren();
    const sorted = [...list].sort((a, b) => (b.overstay - a.overstay) || b.dwell_s - a.dwell_s);
    for (const v of sorted.slice(0, 40)) {
      const chip = el("span", "inside-chip " + v.class + (v.overstay ? " overstay" : ""));
      chip.dataset.plate = v.plate;
      chip.append(el("b", "", v.plate), el("span", "", " " + LW.fmtDwell(v.dwell_s)));
      if (v.overstay) chip.append(el("span", "ov", " " + t("overstay")));
      chip.title = `${t(v.class)} · ${v.gate} · ${LW.fmtTime(v.entry_at)}`;
      box.append(chip);
    }
  }

  // ---- site plan ----
  async function loadPlan() {
    try { D.plan = await api("GET", "/api/site/plan"); } catch (e) { D.plan = null; }
    document.getElementById("plan-open").hidden = !D.plan;
    if (D.plan) paintPlan();
  }
  function planOverlay() {
    const o = el("div", "desk-overlay");
    o.id = "plan"; o.hidden = true;
    const box = el("div", "plan-box");
    const head = el("header");
    const close = el("button", "pb-close"); close.type = "button"; close.id = "plan-close";
    close.addEventListener("click", closePlan);
    head.append(el("h2", "plan-title"), close);
    const wrap = el("div", "plan-wrap");
    const img = el("img"); img.id = "plan-img"; img.alt = "";
    wrap.append(img);
    box.append(head, wrap);
    o.append(box);
    document.body.append(o);
  }
  function closePlan() {
    document.getElementById("plan").hidden = true;
    resumeWall();
  }
  function openPlan() {
    const o = document.getElementById("plan");
    o.querySelector(".plan-title").textContent = t("plan");
    document.getElementById("plan-close").textContent = t("close");
    o.hidden = false;
    pauseWall();
    paintPlan();
  }
  // Markers flash with the colour of the worst unhandled incident of their
  // camera or gate.
  function worst(match) {
    let best = null;
    for (const inc of D.open.values()) {
      if (match(inc.source || {}) && (!best || LW.feedOrder(inc, best) < 0)) best = inc;
    }
    return best;
  }
  function paintPlan() {
    const p = D.plan;
    if (!p) return;
    const wrap = document.querySelector("#plan .plan-wrap");
    const img = document.getElementById("plan-img");
    if (img.getAttribute("src") !== p.image) img.src = p.image;
    wrap.querySelectorAll(".marker").forEach(m => m.remove());
    const add = (kind, id, xy, match, cam) => {
      const m = el("button", "marker " + kind);
      m.type = "button";
      m.dataset[kind] = id;
      m.style.left = (xy[0] * 100) + "%"; m.style.top = (xy[1] * 100) + "%";
      m.append(el("span", "mlabel", id));
      const w = worst(match);
      if (w) m.classList.add("alarm", w.severity);
      m.title = w ? (w.title || t(w.type)) : id;
      m.addEventListener("click", () => {
        if (!cam) return;
        S.full = cam;
        closePlan(); // the wall comes back with this camera full screen
      });
      wrap.append(m);
    };
    for (const [id, xy] of Object.entries(p.cameras || {})) add("camera", id, xy, s => s.camera === id, id);
    for (const [id, xy] of Object.entries(p.gates || {})) {
      const g = D.gates.find(g => g.id === id);
      add("gate", id, xy, s => s.gate === id || (g && (g.cameras || []).includes(s.camera)), g && g.cameras && g.cameras[0]);
    }
  }

  // ---- wiring ----
  header(); feedFilters(); popupOverlay(); playbackOverlay(); planOverlay();
  paintHeader(); paintFilters();
  document.addEventListener("lw:lang", () => { paintHeader(); paintFilters(); if (D.shown) showAlarm(); });
  document.addEventListener("lw:start", async () => {
    try { D.gates = await api("GET", "/api/gates"); } catch (e) { D.gates = []; }
    paintFilters();
    if (D.shown) showAlarm(); // an alarm that came first gets its gate's camera
    cursor();
    await loadUnhandled();
    loadPlan();
  });
  document.addEventListener("lw:stop", () => { D.queue = []; hideAlarm(); closePlayback(); D.open.clear(); });
  document.addEventListener("lw:incident", e => {
    const { incident: inc } = e.detail;
    note(inc);
    paintHeader();
    showAlarm();
    if (D.plan) paintPlan();
  });
  // Every re-render of the feed: compact cards, clips, and the pop-up queue
  // (an incident acknowledged anywhere leaves it).
  document.addEventListener("lw:feed", () => {
    decorateFeed();
    for (const [id, v] of D.clips) if (!v.isConnected) D.clips.delete(id);
    // What the feed loaded (after a reconnect, say) counts and pops up too.
    for (const inc of S.incidents.values()) note(inc);
    paintHeader();
    showAlarm();
  });
  document.addEventListener("lw:passage", e => onPassage(e.detail));
  document.addEventListener("lw:passages", e => {
    for (const p of e.detail) {
      const tr = document.querySelector(`#passages tr[data-id="${CSS.escape(p.id)}"]`);
      if (tr) decoratePassage(tr, p);
    }
  });
  document.addEventListener("lw:inside", e => renderInside(e.detail));
  document.addEventListener("keydown", e => {
    if (e.key === "Escape") { closePlayback(); closePlan(); }
  });
})();
