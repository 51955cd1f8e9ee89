// taizhang web app: small progressive enhancements. Every page works without
// this file; it adds upload progress, a photo viewer and a print button.
(function () {
  "use strict";

  // Upload with per-file progress. The form carries its evidence id, so a
  // retry after a network failure sends the same id and the ledger answers
  // with the original receipt instead of recording the item twice.
  function enhanceUpload(form) {
    var list = form.querySelector("[data-progress]");
    var errorBox = form.querySelector("[data-upload-error]");
    var labels = document.getElementById("progress-labels");
    var sending = labels ? labels.getAttribute("data-sending") : "";
    var done = labels ? labels.getAttribute("data-done") : "";
    form.addEventListener("submit", function (ev) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      ev.preventDefault();
      var files = [];
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        for (var i = 0; i < input.files.length; i++) { files.push(input.files[i]); }
      });
      var bars = [];
      list.textContent = "";
      files.forEach(function (f) {
        var li = document.createElement("li");
        var name = document.createElement("span");
        name.textContent = f.name;
        var bar = document.createElement("progress");
        bar.max = f.size || 1;
        bar.value = 0;
        bar.setAttribute("aria-label", f.name);
        var state = document.createElement("span");
        state.textContent = sending;
        li.appendChild(name); li.appendChild(bar); li.appendChild(state);
        list.appendChild(li);
        bars.push({ bar: bar, state: state, size: f.size });
      });
      list.hidden = files.length === 0;
      errorBox.hidden = true;
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Taizhang-Client", "web");
      xhr.upload.onprogress = function (e) {
        // The files go in order: attribute the bytes sent so far to them.
        var left = e.loaded;
        bars.forEach(function (b) {
          var n = Math.max(0, Math.min(b.size, left));
          left -= b.size;
          b.bar.value = n;
          if (n >= b.size) { b.state.textContent = done; }
        });
      };
      xhr.onload = function () {
        button.disabled = false;
        if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
          window.location.assign(xhr.responseURL);
          return;
        }
        // A refusal is a page: show it as the browser would have.
        document.open();
        document.write(xhr.responseText);
        document.close();
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        button.disabled = false;
        errorBox.hidden = false;
      };
      xhr.send(new FormData(form));
    });
  }

  // Full-size photo viewer: a dialog over the page; without it the link
  // opens the original.
  function enhancePhotos() {
    if (typeof HTMLDialogElement !== "function") { return; }
    var dlg = document.createElement("dialog");
    dlg.className = "viewer";
    var img = document.createElement("img");
    img.alt = "";
    var cap = document.createElement("p");
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.setAttribute("aria-label", document.body.getAttribute("data-close") || "×");
    close.addEventListener("click", function () { dlg.close(); });
    dlg.appendChild(close); dlg.appendChild(img); dlg.appendChild(cap);
    dlg.addEventListener("click", function (e) { if (e.target === dlg) { dlg.close(); } });
    document.body.appendChild(dlg);
    document.addEventListener("click", function (e) {
      var a = e.target.closest ? e.target.closest("a.photo") : null;
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey) { return; }
      e.preventDefault();
      img.src = a.href;
      img.alt = a.getAttribute("data-caption") || "";
      cap.textContent = img.alt;
      dlg.showModal();
    });
  }

  // The archive's requirement groups: open the one holding the linked
  // item (#ev-...), open all on request, and all before printing (closed
  // again after).
  function enhanceGroups() {
    function openTarget() {
      var id = decodeURIComponent(location.hash.slice(1));
      var el = id && document.getElementById(id);
      for (; el; el = el.parentElement) {
        if (el.tagName === "DETAILS") { el.open = true; }
      }
    }
    window.addEventListener("hashchange", openTarget);
    openTarget();
    document.querySelectorAll("[data-open-all]").forEach(function (b) {
      b.addEventListener("click", function () {
        document.querySelectorAll("details.req").forEach(function (d) { d.open = true; });
      });
    });
    var closed = [];
    window.addEventListener("beforeprint", function () {
      closed = [];
      document.querySelectorAll("details.req").forEach(function (d) {
        if (!d.open) { closed.push(d); d.open = true; }
      });
    });
    window.addEventListener("afterprint", function () {
      closed.forEach(function (d) { d.open = false; });
      closed = [];
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-js-only]").forEach(function (e) { e.hidden = false; });
    enhanceGroups();
    document.querySelectorAll("form[data-upload]").forEach(enhanceUpload);
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    enhancePhotos();
  });
})();
