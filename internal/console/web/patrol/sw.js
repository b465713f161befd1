// Service worker of the patrol page: the page's files and the last incident
// list stay on the phone, so the page opens and shows something when the
// gateway cannot be reached. Actions are not its business: the page queues them.
"use strict";
const CACHE = "lanewatch-patrol-v1";
const SHELL = ["/patrol/", "/patrol/index.html", "/patrol/patrol.js", "/patrol/patrol.css",
  "/patrol/manifest.json", "/patrol/icon.svg", "/patrol/icon-192.png"];
const LIST = "/api/patrol/incidents";

self.addEventListener("install", ev => {
  ev.waitUntil(caches.open(CACHE).then(c => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", ev => {
  ev.waitUntil(caches.keys()
    .then(keys => Promise.all(keys.filter(k => k !== CACHE).map(k => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// Network first, the cache when the network fails: fresh when possible.
self.addEventListener("fetch", ev => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin) return;
  const isList = url.pathname === LIST;
  const isShell = url.pathname.startsWith("/patrol/");
  const isEvidence = url.pathname.startsWith("/e/");
  if (!isList && !isShell && !isEvidence) return;
  ev.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const r = await fetch(ev.request);
      if (r.ok && (isList || isShell)) await cache.put(isList ? LIST : ev.request, r.clone());
      // Snapshots (not clips: too big) for the cached list to show offline.
      if (r.ok && isEvidence && (r.headers.get("Content-Type") || "").startsWith("image/")) {
        await cache.put(ev.request, r.clone());
        await trimEvidence(cache);
      }
      return r;
    } catch (e) {
      const hit = await cache.match(isList ? LIST : ev.request, { ignoreSearch: isShell });
      if (!hit) throw e;
      if (!isList) return hit;
      // Tell the page this list is old, so it says it is offline.
      const h = new Headers(hit.headers);
      h.set("X-Patrol-Cache", "1");
      return new Response(await hit.blob(), { status: hit.status, headers: h });
    }
  })());
});

// trimEvidence keeps the newest MAX_EVIDENCE pictures (cache keys keep insertion order).
const MAX_EVIDENCE = 60;
async function trimEvidence(cache) {
  const keys = (await cache.keys()).filter(k => new URL(k.url).pathname.startsWith("/e/"));
  for (const k of keys.slice(0, Math.max(0, keys.length - MAX_EVIDENCE))) await cache.delete(k);
}

self.addEventListener("push", ev => {
  let d = {};
  try { d = ev.data ? ev.data.json() : {}; } catch (e) { d = { title: ev.data && ev.data.text() }; }
  ev.waitUntil(self.registration.showNotification(d.title || "lanewatch", {
    body: d.body || "", tag: d.incident || undefined, renotify: true,
    data: { url: d.url || "/patrol/" }, icon: "/patrol/icon-192.png",
  }));
});

self.addEventListener("notificationclick", ev => {
  ev.notification.close();
  const target = (ev.notification.data && ev.notification.data.url) || "/patrol/";
  ev.waitUntil(self.clients.matchAll({ type: "window" }).then(list => {
    for (const c of list) if (c.url.includes("/patrol/")) return c.focus();
    return self.clients.openWindow(target);
  }));
});
