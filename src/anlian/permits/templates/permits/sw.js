{% load static %}/* Anlian phone service worker (served at /m/sw.js, scope /m/). It holds no user data itself.
   - phone pages (GET under /m/): network first, the last copy from the cache when offline;
   - static assets: cache first (the cache is named after their version);
   - a step form POSTed while the network fails is kept in the offline queue (queue.js) and the
     worker is sent back to the step page, which shows it waiting;
   - Background Sync "anlian-steps" sends the queue when the connection returns. */
"use strict";
importScripts("{% static 'permits/queue.js' %}");

var STATIC = "anlian-static-{{ version }}", PAGES = "anlian-pages";
var ASSETS = {{ assets|safe }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(STATIC).then(function (cache) { return cache.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("anlian-static-") === 0 && k !== STATIC; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function page(request) {
  return fetch(request).then(function (response) {
    var url = new URL(response.url || request.url);
    if (response.redirected && url.pathname.indexOf("/m/") !== 0) {
      // Sent to the login page: the session is gone, so are the copies of the pages seen in it.
      caches.delete(PAGES);
    } else if (response.ok && response.type === "basic") {
      var copy = response.clone();
      caches.open(PAGES).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }, function () {
    return caches.open(PAGES).then(function (cache) { return cache.match(request, {ignoreSearch: true, ignoreVary: true}); })
      .then(function (hit) { return hit || Response.error(); });
  });
}

function post(request) {
  var copy = request.clone();
  return fetch(request).catch(function () {
    return copy.formData().then(function (fd) {
      var meta = JSON.parse(fd.get("offline_meta") || "null");
      if (!meta) return Response.error();
      return self.AnlianQueue.add(self.AnlianQueue.build(fd, meta)).then(function () {
        if (self.registration.sync) self.registration.sync.register("anlian-steps").catch(function () {});
        return Response.redirect(meta.page + "?queued=1", 303);
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "GET" && url.pathname.indexOf("{% get_static_prefix %}") === 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
  } else if (request.method === "GET" && request.mode === "navigate" && url.pathname.indexOf("/m/") === 0) {
    event.respondWith(page(request));
  } else if (request.method === "POST" && request.mode === "navigate" && /\/steps\/[^/]+\/$/.test(url.pathname)) {
    event.respondWith(post(request));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag !== "anlian-steps") return;
  event.waitUntil(self.AnlianQueue.flush({}).then(function (done) {
    if (done.stopped) throw new Error("offline: try again later");  // the browser retries the sync
  }));
});
