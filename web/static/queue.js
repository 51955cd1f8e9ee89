// taizhang web app: the offline queue of submissions, shared by the submit
// page (app.js) and the service worker (sw.js). A submission made without a
// network is kept in IndexedDB with its evidence id and its files (Blobs),
// and sent later through the API with the session's cookie and a fresh
// CSRF token. The evidence id makes every send idempotent: the server
// answers an id it has already recorded with the original receipt, so an
// item sent twice (two tabs, the worker and a page, a lost answer) is
// recorded once. An item leaves the queue only when the server
// acknowledged it (2xx); a refusal (4xx) stays, with the server's message.
//
// Item states: waiting, sending, signin (the session ended, or another user
// signed in), refused, sent (acknowledged; kept a day to show the receipt).
(function (root) {
  "use strict";

  var DB = "taizhang", STORE = "queue", TAG = "taizhang-queue", KEEP_SENT = 24 * 3600 * 1000;

  function open() {
    return new Promise(function (resolve, reject) {
      var r = indexedDB.open(DB, 1);
      r.onupgradeneeded = function () { r.result.createObjectStore(STORE, { keyPath: "id" }); };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  // run runs fn(store) in one transaction and resolves with the result of
  // the request fn returns, once the transaction has committed.
  function run(mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode);
        var req = fn(t.objectStore(STORE));
        t.oncomplete = function () { db.close(); resolve(req ? req.result : undefined); };
        t.onerror = t.onabort = function () { db.close(); reject(t.error); };
      });
    });
  }

  function changed() {
    if (root.BroadcastChannel) {
      var c = new BroadcastChannel(TAG);
      c.postMessage("changed");
      c.close();
    }
  }

  // all resolves with every item, oldest first.
  function all() {
    return run("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return items.sort(function (a, b) { return a.queued - b.queued; });
    });
  }

  function put(item) {
    return run("readwrite", function (s) { return s.put(item); }).then(changed);
  }

  function get(id) {
    return run("readonly", function (s) { return s.get(id); });
  }

  function remove(id) {
    return run("readwrite", function (s) { return s.delete(id); }).then(changed);
  }

  // whoami resolves with the session's user and a fresh CSRF token, or
  // null when no session is signed in (401).
  function whoami() {
    return fetch("/api/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (resp) {
      if (resp.status === 401 || resp.status === 403) { return null; }
      if (!resp.ok) { throw new Error("GET /api/v1/me: " + resp.status); }
      return resp.json().then(function (b) { return { user: b.principal.user, csrf: b.csrf }; });
    });
  }

  // retryable statuses leave an item waiting: the server or the network
  // failed, or the unit is locked for now.
  function retryable(status) {
    return status >= 500 || status === 408 || status === 423 || status === 429;
  }

  // send sends one item and records the answer; it resolves with false
  // when the queue should stop (no network, server failing, no session).
  function send(item, who) {
    if (!who || who.user !== item.user) {
      item.state = "signin";
      return put(item).then(function () { return true; });
    }
    var meta = { id: item.id, kind: item.kind, title: item.title, body: item.body, occurred_at: item.occurred,
      requirements: item.requirement ? [item.requirement] : [], finding: item.finding || "" };
    var form = new FormData();
    form.append("evidence", JSON.stringify(meta)); // first: a known id is answered before any file is sent
    item.files.forEach(function (f) { form.append("attachment", f.blob, f.name); });
    item.state = "sending";
    return put(item).then(function () {
      return fetch("/api/v1/units/" + encodeURIComponent(item.unit) + "/evidence", {
        method: "POST", body: form, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": who.csrf, "X-Taizhang-Client": "web" }
      });
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (b) {
        item.message = (b.error && b.error.message) || "";
        if (resp.ok) {
          item.state = "sent";
          item.sent = Date.now();
          item.sequence = b.sequence;
          item.files = item.files.map(function (f) { return { name: f.name, type: f.type, size: f.size }; });
        } else if (resp.status === 401) {
          item.state = "signin";
        } else if (retryable(resp.status)) {
          item.state = "waiting";
        } else {
          item.state = "refused";
          item.status = resp.status;
        }
        return put(item).then(function () { return item.state === "sent" || item.state === "refused"; });
      });
    }, function (err) {
      item.state = "waiting";
      return put(item).then(function () { throw err; });
    });
  }

  // sync sends the waiting items one at a time, oldest first (one sync at
  // a time across tabs and the worker, where Web Locks exist). It rejects
  // when the network or the server failed (Background Sync then tries
  // again), and drops sent items older than a day.
  function sync() {
    var go = function () {
      return all().then(function (items) {
        var now = Date.now();
        var old = items.filter(function (it) { return it.state === "sent" && now - it.sent > KEEP_SENT; });
        var todo = items.filter(function (it) { return it.state !== "sent" && it.state !== "refused"; });
        return Promise.all(old.map(function (it) { return remove(it.id); })).then(function () {
          if (todo.length === 0) { return; }
          return whoami().then(function (who) {
            var next = function (i) {
              if (i >= todo.length) { return; }
              // Another sync may have sent it since the list was read.
              return get(todo[i].id).then(function (it) {
                if (!it || it.state === "sent" || it.state === "refused") { return true; }
                return send(it, who);
              }).then(function (ok) {
                if (!ok) { throw new Error("the queue stopped: the server is not answering"); }
                return next(i + 1);
              });
            };
            return next(0);
          });
        });
      });
    };
    var locks = root.navigator && root.navigator.locks;
    return locks ? locks.request(TAG, go) : go();
  }

  root.TaizhangQueue = { TAG: TAG, all: all, add: put, remove: remove, sync: sync, whoami: whoami };
})(self);
