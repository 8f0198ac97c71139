/* The hazard report page (随手拍): conveniences only, the server decides everything.
   permits.js does the rest of the form's work (photos downscaled on the phone, device time and
   position sent along, a second tap ignored). This adds:
   - a line saying whether the phone's position was found;
   - without a connection, the report goes to the offline queue (permits/queue.js) as a call to
     POST /api/v1/hazards, sent when the connection returns; the #pf-queue banner shows it. */
(function () {
  "use strict";

  function showPosition(form) {
    var line = form.querySelector(".hz-where"), lat = form.querySelector("input[name=lat]");
    if (!line || !lat) return;
    if (!navigator.geolocation) { line.textContent = line.getAttribute("data-t-none"); return; }
    line.textContent = line.getAttribute("data-t-wait");
    var tries = 0, timer = setInterval(function () {
      tries += 1;
      if (lat.value) {
        var accuracy = form.querySelector("input[name=accuracy]").value;
        line.textContent = line.getAttribute("data-t-ok").replace("{m}", accuracy ? Math.round(accuracy) : "?");
        clearInterval(timer);
      } else if (tries > 24) {
        line.textContent = line.getAttribute("data-t-none");
        clearInterval(timer);
      }
    }, 500);
  }

  function number(text) {
    var n = parseFloat(text);
    return text !== "" && text != null && isFinite(n) ? n : null;
  }

  /* The form as a queue item: the body of POST /api/v1/hazards, the photos as blobs uploaded first. */
  function item(form) {
    var fd = new FormData(form), meta = JSON.parse(form.getAttribute("data-hazard-report"));
    var body = {category: String(fd.get("category") || ""), level: String(fd.get("level") || ""),
                description: String(fd.get("description") || "").trim(), photos: {}};
    var area = number(fd.get("area")), equipment = number(fd.get("equipment"));
    if (area !== null) body.area_id = area;
    if (equipment !== null) body.equipment_id = equipment;
    body.device_time = new Date().toISOString();
    var lat = number(fd.get("lat")), lng = number(fd.get("lng")), accuracy = number(fd.get("accuracy"));
    if (lat !== null && lng !== null) {
      body.lat = lat; body.lng = lng;
      if (accuracy !== null && accuracy >= 0 && accuracy <= 100000) body.accuracy = accuracy;
    }
    var kept = fd.getAll("ref__scene").filter(function (r) { return /^[0-9a-f]{64}$/.test(r); });
    if (kept.length) body.photos.scene = kept;
    var uploads = fd.getAll("photo__scene").filter(function (f) { return typeof f !== "string" && f.size; }).map(function (f) {
      return {slot: "scene", blob: f, name: f.name || "photo.jpg", sha: null};
    });
    return {
      key: window.AnlianQueue.uuid(), user: meta.user, instance: null, number: form.getAttribute("data-t-number"),
      stepName: body.description.slice(0, 20), page: meta.page, filesUrl: meta.filesUrl, actionsUrl: meta.actionsUrl,
      meUrl: meta.meUrl, csrf: String(fd.get("csrfmiddlewaretoken") || ""), accuracy: accuracy,
      queuedAt: new Date().toISOString(), state: "waiting", error: "", body: body, uploads: uploads
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-hazard-report]");
    if (!form) return;
    showPosition(form);
    // Capture phase: decided before permits.js submits the form the ordinary way.
    document.addEventListener("submit", function (e) {
      if (e.target !== form || navigator.onLine || !window.AnlianQueue || !window.indexedDB) return;
      e.preventDefault();
      e.stopPropagation();
      window.AnlianQueue.add(item(form)).then(function () {
        form.reset();
        form.querySelectorAll(".pf-chosen").forEach(function (n) { n.textContent = ""; });
        var box = document.getElementById("pf-queue");
        if (window.AnlianPage) window.AnlianPage.show(box.getAttribute("data-t-queued"));
        window.scrollTo(0, 0);
      });
    }, true);
  });
})();
