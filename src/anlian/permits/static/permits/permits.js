/* Permit step forms on the phone: conveniences only, the server decides everything.
   - device time and position go along with the form (evidence, not trusted);
   - fields with show_if are shown/hidden as the controlling field changes (hidden ones are not sent);
   - a signature can be drawn on a canvas pad (sent as a PNG data URL);
   - a photo button says how many photos were taken; a second tap on submit is ignored. */
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
      }, function () {}, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
    }
    form.querySelectorAll(".pf-sign").forEach(function (box) { before.push(signaturePad(box)); });
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      input.addEventListener("change", function () {
        var note = input.closest(".pf-slot").querySelector(".pf-chosen");
        if (note) note.textContent = input.files.length ? note.getAttribute("data-text").replace("{n}", input.files.length) : "";
      });
    });
    form.addEventListener("change", function () { applyShowIf(form); });
    applyShowIf(form);
    var sent = false;
    form.addEventListener("submit", function (e) {
      if (sent) { e.preventDefault(); return; }
      sent = true;
      if (time) time.value = new Date().toISOString();
      before.forEach(function (fn) { fn(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.pf-form").forEach(setup);
  });
})();
