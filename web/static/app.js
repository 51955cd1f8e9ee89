// taizhang web app: small progressive enhancements. Every page works without
// this file; it adds upload progress, offline submission (with queue.js and
// the service worker sw.js), a photo viewer and a print button.
(function () {
  "use strict";

  // goTrim trims as the server's strings.TrimSpace does (Unicode
  // White_Space), so that the title a device signs is the title the server
  // records: String.prototype.trim also drops U+FEFF, and keeps U+0085.
  var goSpace = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+";
  var goTrimRE = new RegExp("^" + goSpace + "|" + goSpace + "$", "g");
  function goTrim(s) { return s.replace(goTrimRE, ""); }

  // Upload with per-file progress. The form carries its evidence id, so a
  // retry after a network failure sends the same id and the ledger answers
  // with the original receipt instead of recording the item twice.
  function enhanceUpload(form, offline) {
    var list = form.querySelector("[data-progress]");
    var errorBox = form.querySelector("[data-upload-error]");
    var labels = document.getElementById("progress-labels");
    var sending = labels ? labels.getAttribute("data-sending") : "";
    var done = labels ? labels.getAttribute("data-done") : "";
    form.addEventListener("submit", function (ev) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      ev.preventDefault();
      if (offline && navigator.onLine === false) {
        offline.save();
        return;
      }
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
        list.hidden = true;
        if (offline && navigator.onLine === false) {
          offline.save();
          return;
        }
        errorBox.hidden = false;
        if (offline) { offline.offerSave(); }
      };
      xhr.send(new FormData(form));
    });
  }

  // newID returns a random UUID (version 4) for a new item.
  function newID() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // Offline submission: without a network the form's item goes into the
  // device's queue (queue.js) with its evidence id and files, shows as
  // waiting, and is sent when the network is back (the online event, the
  // next page load, Background Sync in the worker, and a retry every few
  // minutes while the page is open). Returns null where the browser lacks
  // what it needs (then the form works as before).
  function enhanceQueue(form) {
    var Q = window.TaizhangQueue;
    var box = document.querySelector("[data-queue]");
    var labels = document.getElementById("queue-labels");
    if (!Q || !window.indexedDB || !window.Promise || !box || !labels) { return null; }
    var unit = form.getAttribute("data-unit");
    var user = form.getAttribute("data-user");
    var idField = form.querySelector("input[name=id]");
    var saved = document.querySelector("[data-queue-saved]");
    var offer = form.querySelector("[data-queue-offer]");
    var label = function (k) { return labels.getAttribute("data-" + k) || k; };
    if (!idField.value) { // a page kept by the worker has none, and maybe an old CSRF token
      idField.value = newID();
      Q.whoami().then(function (who) {
        if (who && who.user === user) { form.querySelector("input[name=csrf]").value = who.csrf; }
      }).catch(function () {});
    }

    function render() {
      return Q.all().then(function (items) {
        items = items.filter(function (it) { return it.unit === unit; });
        var ul = box.querySelector("ul");
        ul.textContent = "";
        items.forEach(function (it) {
          var li = document.createElement("li");
          li.className = "q-" + it.state;
          li.setAttribute("data-id", it.id);
          var title = document.createElement("strong");
          title.textContent = it.title;
          var meta = document.createElement("span");
          meta.className = "meta";
          meta.textContent = " " + it.occurred + (it.files.length ? " · " + it.files.map(function (f) { return f.name; }).join(", ") : "") + " ";
          var state = document.createElement("span");
          state.className = "state";
          state.textContent = label(it.state);
          li.appendChild(title); li.appendChild(meta); li.appendChild(state);
          if (it.state === "sent") {
            var a = document.createElement("a");
            a.href = "/units/" + encodeURIComponent(it.unit) + "/receipts/" + it.id;
            a.textContent = label("receipt");
            li.appendChild(document.createTextNode(" ")); li.appendChild(a);
          } else if (it.state === "signin") {
            state.textContent = "";
            var login = document.createElement("a");
            login.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
            login.textContent = label("signin") + (it.user !== user ? " (" + it.user + ")" : "");
            state.appendChild(login);
          } else if (it.state === "refused") {
            var why = document.createElement("p");
            why.className = "error";
            why.textContent = it.message;
            var rm = document.createElement("button");
            rm.type = "button";
            rm.textContent = label("remove");
            rm.addEventListener("click", function () {
              if (window.confirm(label("remove-confirm"))) { Q.remove(it.id).then(render); }
            });
            li.appendChild(why); li.appendChild(rm);
          }
          ul.appendChild(li);
        });
        box.hidden = items.length === 0;
        if (saved && !items.some(function (it) { return it.state !== "sent" && it.state !== "refused"; })) {
          saved.hidden = true;
        }
      });
    }

    var delay = 15000, timer = null;
    function sync() {
      clearTimeout(timer);
      return Q.sync().then(function () {
        delay = 15000;
        if (saved) { saved.hidden = true; } // the server answered: "no network" is over
      }, function () {
        timer = setTimeout(sync, delay); // no network yet: try again later
        delay = Math.min(delay * 2, 300000);
      }).then(render);
    }

    function save() {
      var data = new FormData(form);
      var files = [];
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        for (var i = 0; i < input.files.length; i++) {
          var f = input.files[i];
          files.push({ name: f.name, type: f.type, size: f.size, blob: f });
        }
      });
      var item = { id: idField.value, unit: unit, user: user, kind: data.get("kind"), title: goTrim(data.get("title") || ""),
        occurred: data.get("occurred"), requirement: data.get("requirement") || "", body: data.get("body") || "",
        finding: data.get("finding") || "", files: files, state: "waiting", queued: Date.now() };
      if (navigator.storage && navigator.storage.persist) { navigator.storage.persist().catch(function () {}); }
      return Q.add(item, form.getAttribute("data-zone")).then(function () {
        form.reset();
        idField.value = newID(); // the next item is another one
        form.querySelector("[data-upload-error]").hidden = true;
        if (offer) { offer.hidden = true; }
        if (saved) { saved.hidden = false; }
        if (navigator.serviceWorker && window.SyncManager) {
          navigator.serviceWorker.ready.then(function (reg) { return reg.sync.register(Q.TAG); }).catch(function () {});
        }
        return render();
      }).then(function () {
        if (navigator.onLine !== false) { sync(); }
      });
    }

    if (offer) {
      offer.querySelector("button").addEventListener("click", function () { save(); });
    }
    if (window.BroadcastChannel) {
      new BroadcastChannel(Q.TAG).onmessage = function () { render(); };
    }
    window.addEventListener("online", function () { sync(); });
    render().then(sync);
    return {
      save: save,
      offerSave: function () { if (offer) { offer.hidden = false; } }
    };
  }

  // The service worker keeps the submit pages and static files on the
  // device (sw.js). A submit page it has not kept (the first visit, before
  // it controlled the page, or a load it could not keep) asks it to.
  function registerWorker() {
    var sw = document.body.getAttribute("data-sw");
    if (!sw || !navigator.serviceWorker) { return; }
    navigator.serviceWorker.register(sw, { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      if (!document.querySelector("form[data-upload]") || !window.caches) { return; }
      return caches.match(location.href).then(function (hit) {
        if (!hit && reg.active) { reg.active.postMessage({ page: location.href }); }
      });
    }).catch(function () {});
  }

  // Signing out forgets the submit pages the worker kept (they show the
  // user's name; the next user's are their own); the queue stays, each
  // item waiting for the user who made it.
  function forgetPagesOnLogout() {
    if (!window.caches) { return; }
    document.querySelectorAll("form[action='/logout']").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        caches.delete("taizhang-pages").catch(function () {}).then(function () { form.submit(); });
      });
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
    registerWorker();
    forgetPagesOnLogout();
    document.querySelectorAll("form[data-upload]").forEach(function (form) {
      enhanceUpload(form, form.hasAttribute("data-unit") ? enhanceQueue(form) : null);
    });
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    enhancePhotos();
  });
})();
