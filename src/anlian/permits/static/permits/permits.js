/* Permit step forms on the phone: conveniences only, the server decides everything.
   - device time and position go along with the form (evidence, not trusted);
   - fields with show_if are shown/hidden as the controlling field changes (hidden ones are not sent);
   - a signature can be drawn on a canvas pad (sent as a PNG data URL);
   - a photo button says how many photos were taken; a second tap on submit is ignored;
   - photos are downscaled on the phone to the form's data-max-edge (long edge, px) as JPEG, keeping
     the original's EXIF (capture time, position) with its orientation set upright; a camera-only
     slot refuses a picture that was not just taken (where the browser tells);
   - on the step page (form[data-offline]): a step submitted without a connection goes to the offline
     queue (queue.js, IndexedDB) and is sent through the API when the connection returns; the
     #pf-queue banner shows what is waiting and what the server refused. */
(function () {
  "use strict";

  function picked(form, name) {
    var out = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (el) {
      if (el.tagName === "SELECT") {
        Array.prototype.forEach.call(el.selectedOptions, function (o) { if (o.value) out.push(o.value); });
      } else if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) out.push(el.value);
      } else if (el.value) {
        out.push(el.value);
      }
    });
    return out;
  }

  function applyShowIf(form) {
    form.querySelectorAll("[data-show-field]").forEach(function (box) {
      var values = JSON.parse(box.getAttribute("data-show-values") || "[]");
      var show = picked(form, box.getAttribute("data-show-field")).some(function (v) { return values.indexOf(v) >= 0; });
      box.hidden = !show;
      box.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
    });
  }

  function signaturePad(box) {
    var canvas = box.querySelector("canvas"), hidden = box.querySelector("input[data-drawn]");
    var ctx = canvas.getContext("2d"), drawing = false, dirty = false;
    function fit() {
      var ratio = window.devicePixelRatio || 1, rect = canvas.getBoundingClientRect();
      canvas.width = rect.width * ratio; canvas.height = rect.height * ratio;
      ctx.scale(ratio, ratio); ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.strokeStyle = "#102a43";
    }
    function point(e) {
      var rect = canvas.getBoundingClientRect();
      return [e.clientX - rect.left, e.clientY - rect.top];
    }
    fit();
    canvas.addEventListener("pointerdown", function (e) {
      drawing = true; dirty = true; canvas.setPointerCapture(e.pointerId);
      var p = point(e); ctx.beginPath(); ctx.moveTo(p[0], p[1]);
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) return;
      var p = point(e); ctx.lineTo(p[0], p[1]); ctx.stroke();
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      canvas.addEventListener(t, function () { drawing = false; });
    });
    box.querySelector("button[data-clear]").addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height); dirty = false; hidden.value = "";
    });
    return function () { if (dirty) hidden.value = canvas.toDataURL("image/png"); };
  }

  function setup(form) {
    var before = [];
    var time = form.querySelector("input[name=device_time]");
    if (navigator.geolocation && form.querySelector("input[name=lat]")) {
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.querySelector("input[name=lat]").value = pos.coords.latitude;
        form.querySelector("input[name=lng]").value = pos.coords.longitude;
        var accuracy = form.querySelector("input[name=accuracy]");
        if (accuracy && isFinite(pos.coords.accuracy)) accuracy.value = Math.round(pos.coords.accuracy * 10) / 10;
      }, function () {}, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
    }
    form.querySelectorAll(".pf-sign").forEach(function (box) { before.push(signaturePad(box)); });
    var edge = parseInt(form.getAttribute("data-max-edge") || "2560", 10) || 2560, pending = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      input.addEventListener("change", function () {
        var note = input.closest(".pf-slot").querySelector(".pf-chosen");
        var files = Array.prototype.slice.call(input.files);
        if (input.hasAttribute("data-camera-only") && files.some(function (f) { return Date.now() - f.lastModified > FRESH_MS; })) {
          input.value = "";
          if (note) note.textContent = note.getAttribute("data-camera-only-text");
          return;
        }
        if (note) note.textContent = files.length ? note.getAttribute("data-text").replace("{n}", files.length) : "";
        pending.push(Promise.all(files.map(function (f) { return downscale(f, edge); })).then(function (out) {
          if (!window.DataTransfer || !out.some(function (f, i) { return f !== files[i]; })) return;
          var dt = new DataTransfer();
          out.forEach(function (f) { dt.items.add(f); });
          input.files = dt.files;
        }).catch(function () {}));
      });
    });
    form.addEventListener("change", function () { applyShowIf(form); });
    applyShowIf(form);
    var sent = false, offline = form.hasAttribute("data-offline") && window.AnlianQueue && window.indexedDB;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (sent) return;
      sent = true;
      if (time) time.value = new Date().toISOString();
      before.forEach(function (fn) { fn(); });
      var submitter = e.submitter;
      Promise.all(pending).then(function () {
        if (offline && !navigator.onLine) return queueStep(form, submitter);
        if (submitter && submitter.name) {  // form.submit() sends no button: carry its value
          var carry = document.createElement("input");
          carry.type = "hidden"; carry.name = submitter.name; carry.value = submitter.value;
          form.appendChild(carry);
        }
        HTMLFormElement.prototype.submit.call(form);
      }).catch(function () { sent = false; });
    });
  }

  // --- photos: downscale on the phone ---------------------------------------------------------------

  var FRESH_MS = 5 * 60 * 1000;  // "just taken" for a camera-only slot

  function downscale(file, edge) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) return Promise.resolve(file);
    return createImageBitmap(file, {imageOrientation: "from-image"}).then(function (bmp) {
      var scale = Math.min(1, edge / Math.max(bmp.width, bmp.height));
      if (scale >= 1 && file.type === "image/jpeg") { bmp.close(); return file; }  // small enough: untouched
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bmp.width * scale));
      canvas.height = Math.max(1, Math.round(bmp.height * scale));
      canvas.getContext("2d").drawImage(bmp, 0, 0, canvas.width, canvas.height);
      bmp.close();
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.88); }).then(function (blob) {
        if (!blob) return file;
        return exifOf(file).then(function (exif) {
          var parts = exif ? [blob.slice(0, 2), exif, blob.slice(2)] : [blob];
          return new File(parts, file.name.replace(/\.[^.]*$/, "") + ".jpg", {type: "image/jpeg", lastModified: file.lastModified});
        });
      });
    }).catch(function () { return file; });
  }

  /* The original JPEG's EXIF segment (APP1), with Orientation set to 1 (the pixels are upright now). */
  function exifOf(file) {
    if (file.type !== "image/jpeg") return Promise.resolve(null);
    return file.slice(0, 256 * 1024).arrayBuffer().then(function (buf) {
      var v = new DataView(buf), at = 2;
      if (v.byteLength < 4 || v.getUint16(0) !== 0xFFD8) return null;
      while (at + 4 <= v.byteLength && v.getUint8(at) === 0xFF) {
        var marker = v.getUint8(at + 1), size = v.getUint16(at + 2);
        if (marker === 0xE1 && at + 10 <= v.byteLength && v.getUint32(at + 4) === 0x45786966) {  // "Exif"
          if (at + 2 + size > v.byteLength) return null;
          var seg = new Uint8Array(buf.slice(at, at + 2 + size));
          upright(new DataView(seg.buffer), 10);
          return new Blob([seg]);
        }
        if (marker === 0xDA) break;
        at += 2 + size;
      }
      return null;
    }).catch(function () { return null; });
  }

  function upright(v, tiff) {
    try {
      var little = v.getUint16(tiff) === 0x4949, ifd = tiff + v.getUint32(tiff + 4, little);
      for (var i = 0, n = v.getUint16(ifd, little); i < n; i++) {
        var entry = ifd + 2 + i * 12;
        if (v.getUint16(entry, little) === 0x0112) v.setUint16(entry + 8, 1, little);
      }
    } catch (e) { /* a broken EXIF stays as it was: the server judges it */ }
  }

  // --- offline queue (step page) --------------------------------------------------------------------

  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function t(box, name, values) {
    var text = box.getAttribute("data-t-" + name) || "";
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }

  function queueStep(form, submitter) {
    var fd = new FormData(form);
    if (submitter && submitter.name) fd.set(submitter.name, submitter.value);
    var meta = JSON.parse(form.querySelector("input[name=offline_meta]").value);
    var item = window.AnlianQueue.build(fd, meta);
    return window.AnlianQueue.add(item).then(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      form.querySelectorAll("input[type=file]").forEach(function (i) { i.value = ""; });
      showQueue(t(document.getElementById("pf-queue"), "queued"));
      if (navigator.serviceWorker) {
        navigator.serviceWorker.ready.then(function (reg) {
          if (reg.sync) return reg.sync.register("anlian-steps");
        }).catch(function () {});
      }
    });
  }

  var notice = "";

  function showQueue(message) {
    var box = document.getElementById("pf-queue");
    if (!box || !window.AnlianQueue) return Promise.resolve();
    if (message !== undefined) notice = message;
    return window.AnlianQueue.all().then(function (items) {
      var waiting = items.filter(function (i) { return i.state !== "failed"; });
      var failed = items.filter(function (i) { return i.state === "failed"; });
      box.hidden = !items.length && !notice;
      // This very step already waits to be sent: a second submission would only be refused later.
      var form = document.querySelector("form.pf-form[data-offline]"), metaInput = form && form.querySelector("input[name=offline_meta]");
      if (metaInput) {
        var meta = JSON.parse(metaInput.value), mine = waiting.some(function (i) { return i.instance === meta.instance && i.body.step === meta.step; });
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = mine; });
      }
      box.classList.toggle("has-failed", failed.length > 0);
      var head = [];
      if (waiting.length) head.push(t(box, "waiting", {n: waiting.length}));
      if (failed.length) head.push(t(box, "failed", {n: failed.length}));
      box.querySelector(".head").textContent = head.join("，");
      box.querySelector(".note").textContent = notice || (waiting.length && !navigator.onLine ? t(box, "offline") : "");
      var list = box.querySelector(".items");
      list.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li"), title = document.createElement("b"), state = document.createElement("span");
        li.className = item.state === "failed" ? "failed" : "waiting";
        li.setAttribute("data-key", item.key);
        title.textContent = item.number + " · " + item.stepName;
        var photos = item.uploads.filter(function (u) { return u.slot; }).length;
        state.textContent = (photos ? t(box, "photos", {n: photos}) + " · " : "") +
          (item.state === "failed" ? t(box, "refused", {message: item.error}) : t(box, "item-waiting"));
        li.appendChild(title); li.appendChild(state);
        if (item.state === "failed") {
          var discard = document.createElement("button");
          discard.type = "button"; discard.className = "m-btn"; discard.textContent = t(box, "discard");
          discard.addEventListener("click", function () {
            if (window.confirm(t(box, "confirm"))) window.AnlianQueue.remove(item.id).then(function () { showQueue(""); });
          });
          li.appendChild(discard);
        }
        list.appendChild(li);
      });
    });
  }

  var flushing = null;

  function flushQueue() {
    if (!window.AnlianQueue || !window.indexedDB || flushing) return flushing;
    flushing = window.AnlianQueue.flush({
      csrf: csrf(),
      onChange: function (change) {
        var box = document.getElementById("pf-queue");
        showQueue(change.sent ? t(box, "sent", {step: change.sent.stepName}) : "");
      }
    }).catch(function () {}).then(function () { flushing = null; return showQueue(); });
    return flushing;
  }

  function startQueue() {
    var box = document.getElementById("pf-queue");
    if (!box || !window.AnlianQueue || !window.indexedDB) return;
    if (navigator.serviceWorker && box.getAttribute("data-sw")) {
      navigator.serviceWorker.register(box.getAttribute("data-sw"), {scope: "/m/"}).then(function () {
        return navigator.serviceWorker.ready;
      }).then(function () {
        // This page was loaded before the worker controlled it: keep a copy for a reload offline.
        if (navigator.onLine && window.caches) {
          return caches.open("anlian-pages").then(function (c) { return c.add(location.pathname); });
        }
      }).catch(function () {});
    }
    window.addEventListener("online", function () { showQueue(""); flushQueue(); });
    window.addEventListener("offline", function () { showQueue(); });
    showQueue(/[?&]queued=1/.test(location.search) ? t(box, "queued") : undefined);
    if (navigator.onLine) flushQueue();
  }

  window.AnlianPage = {flush: flushQueue, show: showQueue};

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.pf-form").forEach(setup);
    startQueue();
  });
})();
