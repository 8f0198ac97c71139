/* Offline queue of step submissions, shared by the phone pages and the service worker (/m/sw.js).

   A step submitted without a connection is kept in IndexedDB ("anlian-offline", store "steps"):
   its form data already in the API's shape, its photos (and drawn signatures) as blobs, and an
   Idempotency-Key made once when it was queued. `flush` sends the waiting steps oldest first through
   the API: each file to POST /api/v1/files (its sha256 is written back into the item, so a retry does
   not upload again), then POST /api/v1/instances/{id}/actions with the item's key; the server replays
   the first answer to a retry, so a step is never recorded twice.

   - a network error (or 5xx, 401, 409 in progress) stops the run: the item stays and is retried later;
   - a refusal (other 4xx) marks the item "failed" with the server's message; it stays until the
     worker discards it;
   - an item is only sent by the account that queued it (checked against GET /api/v1/me). */
(function (root) {
  "use strict";

  var DB = "anlian-offline", STORE = "steps", DB_VERSION = 1, LOCK = "anlian-offline-queue";
  var SHA = /^[0-9a-f]{64}$/;

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, DB_VERSION);
      req.onupgradeneeded = function () {
        if (!req.result.objectStoreNames.contains(STORE)) {
          req.result.createObjectStore(STORE, {keyPath: "id", autoIncrement: true});
        }
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function run(mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), req = fn(t.objectStore(STORE)), result;
        if (req) req.onsuccess = function () { result = req.result; };
        t.oncomplete = function () { db.close(); resolve(result); };
        t.onerror = t.onabort = function () { db.close(); reject(t.error); };
      });
    });
  }

  function all() { return run("readonly", function (s) { return s.getAll(); }); }  // by id: oldest first
  function add(item) { return run("readwrite", function (s) { return s.add(item); }); }
  function put(item) { return run("readwrite", function (s) { return s.put(item); }); }
  function remove(id) { return run("readwrite", function (s) { return s.delete(id); }); }

  function uuid() {
    if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
    var b = root.crypto.getRandomValues(new Uint8Array(16)), h = "";
    for (var i = 0; i < 16; i++) h += (b[i] + 256).toString(16).slice(1);
    return h;
  }

  function dataUrlBlob(url) {
    var parts = url.split(","), bin = atob(parts[1] || ""), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], {type: "image/png"});
  }

  function number(text) {
    var n = parseFloat(text);
    return text !== "" && text != null && isFinite(n) ? n : null;
  }

  /* A step form's FormData (plus the page's `meta`, see step.html) as a queue item. The mapping is
     the one permits.services.read_submission makes of the same form on the server. */
  function build(fd, meta) {
    var kind = String(fd.get("do") || "complete"), clip = function (v) { return String(v).trim().slice(0, 2000); };
    var body = {kind: kind, step: meta.step, reason: "", values: {}, photos: {}};
    var device = String(fd.get("device_time") || ""), lat = number(fd.get("lat")), lng = number(fd.get("lng"));
    if (device) body.device_time = device;
    if (lat !== null && lng !== null) {
      body.lat = lat; body.lng = lng;
      var accuracy = number(fd.get("accuracy"));
      if (accuracy !== null && accuracy >= 0 && accuracy <= 100000) body.accuracy = accuracy;
    }
    var uploads = [];
    if (kind === "return" || kind === "reject") {
      body.reason = clip(fd.get("reason") || "");
      if (fd.get("target")) body.target = String(fd.get("target")).slice(0, 60);
    } else {
      if (kind === "approve") body.reason = clip(fd.get("reason") || "");
      var raw = {}, drawn = {};
      fd.forEach(function (value, name) {
        var m;
        if ((m = /^f__(.+)$/.exec(name))) {
          (raw[m[1]] = raw[m[1]] || []).push(String(value));
        } else if ((m = /^c__(.+?)__(.+)$/.exec(name))) {
          body.values[m[1]] = body.values[m[1]] || {};
          if (value) body.values[m[1]][m[2]] = String(value).slice(0, 20);
        } else if ((m = /^sig__(.+)$/.exec(name))) {
          if (value) drawn[m[1]] = String(value);
        } else if ((m = /^photo__(.+)$/.exec(name))) {
          if (typeof value !== "string" && value.size) uploads.push({slot: m[1], blob: value, name: value.name || "photo.jpg", sha: null});
        } else if ((m = /^ref__(.+)$/.exec(name))) {
          if (SHA.test(value)) (body.photos[m[1]] = body.photos[m[1]] || []).push(String(value));
        }
      });
      Object.keys(body.values).forEach(function (k) { if (!Object.keys(body.values[k]).length) delete body.values[k]; });
      Object.keys(raw).concat(Object.keys(drawn)).forEach(function (key) {
        var texts = raw[key] || [""], value;
        if ((meta.many || []).indexOf(key) >= 0) {
          value = texts.map(clip).filter(function (v) { return v; });
        } else {
          value = clip(texts[0]);
          if ((meta.datetime || []).indexOf(key) >= 0 && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(value)) {
            value = value + (value.length === 16 ? ":00" : "") + (meta.tz || "");
          }
        }
        if (drawn[key]) {
          if (SHA.test(drawn[key])) value = "sig:" + drawn[key] + ":" + value;
          else { uploads.push({field: key, typed: value, blob: dataUrlBlob(drawn[key]), name: "signature.png", sha: null}); return; }
        }
        if (value !== "" && !(Array.isArray(value) && !value.length)) body.values[key] = value;
      });
    }
    return {
      key: uuid(), user: meta.user, instance: meta.instance, number: meta.number, stepName: meta.stepName,
      page: meta.page, filesUrl: meta.filesUrl, actionsUrl: meta.actionsUrl, meUrl: meta.meUrl,
      csrf: String(fd.get("csrfmiddlewaretoken") || ""), accuracy: number(fd.get("accuracy")),
      queuedAt: new Date().toISOString(), state: "waiting", error: "", body: body, uploads: uploads
    };
  }

  function withLock(fn) {
    if (root.navigator && root.navigator.locks) return root.navigator.locks.request(LOCK, fn);
    return fn();
  }

  async function answer(response) {
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return data || {};
  }

  // Not the step's fault: the server, the session or its CSRF token (a fresh page brings a new one).
  function retryLater(status, data) {
    return status >= 500 || status === 401 || status === 408 || status === 409 || status === 429 ||
      (status === 403 && data.code === "csrf_failed");
  }

  /* Send what is waiting. options.csrf: a fresh CSRF token (the page's); options.onChange(): called
     after each change. Resolves to {sent, failed, stopped}. */
  function flush(options) {
    options = options || {};
    var changed = options.onChange || function () {};
    return withLock(async function () {
      var out = {sent: 0, failed: 0, stopped: false}, users = {};
      var items = (await all()).filter(function (i) { return i.state !== "failed"; });
      for (var n = 0; n < items.length; n++) {
        var item = items[n];
        try {
          if (!(item.meUrl in users)) {
            var me = await fetch(item.meUrl, {credentials: "same-origin", headers: {Accept: "application/json"}});
            users[item.meUrl] = me.ok ? (await answer(me)).username : null;
          }
          if (users[item.meUrl] !== item.user) continue;  // not logged in, or someone else is: not theirs to send
          var headers = {"X-CSRFToken": options.csrf || item.csrf, Accept: "application/json"};
          for (var u = 0; u < item.uploads.length; u++) {
            var up = item.uploads[u];
            if (up.sha) continue;
            var fd = new FormData();
            fd.append("file", up.blob, up.name);
            var sent = await fetch(item.filesUrl, {method: "POST", credentials: "same-origin", body: fd,
              headers: Object.assign({"Idempotency-Key": item.key + "-f" + u}, headers)});
            var file = await answer(sent);
            if (retryLater(sent.status, file)) { out.stopped = true; return out; }
            if (!sent.ok) throw {refused: file.message || sent.statusText || String(sent.status)};
            up.sha = file.sha256;
            await put(item);
          }
          var body = JSON.parse(JSON.stringify(item.body));
          item.uploads.forEach(function (up) {
            if (up.slot) (body.photos[up.slot] = body.photos[up.slot] || []).push(up.sha);
            else body.values[up.field] = "sig:" + up.sha + ":" + up.typed;
          });
          var acted = await fetch(item.actionsUrl, {method: "POST", credentials: "same-origin", body: JSON.stringify(body),
            headers: Object.assign({"Idempotency-Key": item.key, "Content-Type": "application/json"}, headers)});
          var result = await answer(acted);
          if (retryLater(acted.status, result)) { out.stopped = true; return out; }
          if (!acted.ok) throw {refused: result.message || acted.statusText || String(acted.status)};
          await remove(item.id);
          out.sent += 1;
          changed({sent: item});
        } catch (e) {
          if (e && e.refused !== undefined) {
            item.state = "failed"; item.error = String(e.refused).slice(0, 500);
            await put(item);
            out.failed += 1;
            changed({failed: item});
          } else {  // network error: keep it, in order, for the next try
            out.stopped = true;
            return out;
          }
        }
      }
      return out;
    });
  }

  root.AnlianQueue = {all: all, add: add, put: put, remove: remove, build: build, flush: flush, uuid: uuid};
})(typeof self !== "undefined" ? self : this);
