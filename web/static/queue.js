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
//
// Where the browser's WebCrypto has Ed25519, each item is signed when it is
// queued with this browser's device key for the user (made on first use,
// its private half never leaves the browser, registered through
// POST /api/v1/devices before the first signed item is sent): the device
// statement of issue 13.5 over the item's content and the time it was
// captured, built as events.SignedContent.Encode builds it.
(function (root) {
  "use strict";

  var DB = "taizhang", STORE = "queue", KEYS = "keys", TAG = "taizhang-queue", KEEP_SENT = 24 * 3600 * 1000;

  function open() {
    return new Promise(function (resolve, reject) {
      var r = indexedDB.open(DB, 2);
      r.onupgradeneeded = function () {
        var db = r.result;
        if (!db.objectStoreNames.contains(STORE)) { db.createObjectStore(STORE, { keyPath: "id" }); }
        if (!db.objectStoreNames.contains(KEYS)) { db.createObjectStore(KEYS, { keyPath: "user" }); }
      };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  // run runs fn(store) in one transaction on store name (default: the
  // queue) and resolves with the result of the request fn returns, once
  // the transaction has committed.
  function run(mode, fn, name) {
    name = name || STORE;
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(name, mode);
        var req = fn(t.objectStore(name));
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

  function b64(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s);
  }

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
  }

  function sha256(buf) {
    return crypto.subtle.digest("SHA-256", buf).then(function (d) { return new Uint8Array(d); });
  }

  // signedTime is a time as the signed content writes it: UTC, six
  // fractional digits.
  function signedTime(d) { return d.toISOString().replace(/Z$/, "000Z"); }

  // deviceKey resolves with this browser's device key for user, made on
  // first use, or null where WebCrypto has no Ed25519: {user, key (the key
  // id: 16 hex digits of the public key's SHA-256), publicKey
  // ("ed25519:" + unpadded base64), privateKey (a CryptoKey that cannot be
  // exported), reg (the registration's id, for an idempotent retry),
  // registered}.
  function deviceKey(user) {
    return run("readonly", function (s) { return s.get(user); }, KEYS).then(function (k) {
      if (k) { return k; }
      return crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]).then(function (pair) {
        return crypto.subtle.exportKey("raw", pair.publicKey).then(function (raw) {
          raw = new Uint8Array(raw);
          return sha256(raw).then(function (d) {
            k = { user: user, key: hex(d.slice(0, 8)), publicKey: "ed25519:" + b64(raw).replace(/=+$/, ""),
              privateKey: pair.privateKey, reg: crypto.randomUUID(), registered: false };
            // add, not put: another tab may have made one first; then use it.
            return run("readwrite", function (s) { return s.add(k); }, KEYS).then(function () { return k; }, function () {
              return run("readonly", function (s) { return s.get(user); }, KEYS);
            });
          });
        });
      });
    }).catch(function () { return null; });
  }

  // sign adds the device statement to item (item.device) and its
  // occurred_at as the time the server will record (midnight of the day in
  // zone, an offset like "+08:00"); without a device key it leaves the
  // item unsigned.
  function sign(item, zone) {
    var occurred = new Date(item.occurred + "T00:00:00" + (zone || "Z"));
    if (isNaN(occurred.getTime())) { return Promise.resolve(item); }
    item.occurredAt = occurred.toISOString();
    return deviceKey(item.user).then(function (k) {
      if (!k) { return item; }
      var captured = new Date(item.queued);
      return Promise.all(item.files.map(function (f) {
        return f.blob.arrayBuffer().then(sha256).then(function (d) { return { sha: hex(d), size: f.blob.size }; });
      })).then(function (atts) {
        atts.sort(function (a, b) { return a.sha < b.sha ? -1 : a.sha > b.sha ? 1 : a.size - b.size; });
        var enc = new TextEncoder();
        var out = ["taizhang-device-signature/v1\n"];
        var rec = function (name, v) { out.push(name + " " + enc.encode(v).length + ":" + v + "\n"); };
        rec("unit", item.unit);
        rec("evidence", item.id);
        rec("kind", item.kind);
        rec("title", item.title);
        rec("body", item.body);
        rec("occurred_at", signedTime(occurred));
        if (item.requirement) { rec("requirement", item.requirement); }
        rec("finding", item.finding);
        atts.forEach(function (a) { rec("attachment", a.sha + " " + a.size); });
        rec("key", k.key);
        rec("captured_at", signedTime(captured));
        return crypto.subtle.sign({ name: "Ed25519" }, k.privateKey, enc.encode(out.join(""))).then(function (sig) {
          item.device = { key: k.key, public_key: k.publicKey, captured_at: captured.toISOString(), signature: b64(new Uint8Array(sig)) };
          return item;
        });
      });
    }).catch(function () { return item; });
  }

  // register registers user's device key with the server, once; it
  // resolves with false when the network failed. A refusal is left to the
  // ledger: the items it signed are recorded and flagged for the
  // supervisor as signed by an unknown key.
  function register(user, who) {
    return run("readonly", function (s) { return s.get(user); }, KEYS).then(function (k) {
      if (!k || k.registered) { return true; }
      return fetch("/api/v1/devices", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": who.csrf, "X-Taizhang-Client": "web" },
        body: JSON.stringify({ id: k.reg, public_key: k.publicKey, label: ("web: " + (root.navigator.userAgent || "")).slice(0, 100) })
      }).then(function (resp) {
        if (resp.status >= 500 || resp.status === 401) { return false; }
        k.registered = true;
        return run("readwrite", function (s) { return s.put(k); }, KEYS).then(function () { return true; });
      }, function () { return false; });
    });
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
    var meta = { id: item.id, kind: item.kind, title: item.title, body: item.body, occurred_at: item.occurredAt || item.occurred,
      requirements: item.requirement ? [item.requirement] : [], finding: item.finding || "" };
    if (item.device) { meta.device = item.device; }
    var form = new FormData();
    form.append("evidence", JSON.stringify(meta)); // first: a known id is answered before any file is sent
    item.files.forEach(function (f) { form.append("attachment", f.blob, f.name); });
    item.state = "sending";
    return put(item).then(function () {
      return item.device ? register(item.user, who) : true;
    }).then(function (ok) {
      if (!ok) { throw new Error("device registration: no answer"); }
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
                if (!ok) { throw new Error("the queue stopped: no network, the server failing, or no session"); }
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

  // add signs item (see sign; zone is the deployment's UTC offset) and
  // queues it. Without zone it takes the page's (the data-zone of the
  // submit form): a day is the deployment's day, never UTC's, or an item
  // dated today would be refused as in the future between midnight and
  // 08:00 in China.
  function add(item, zone) {
    if (!zone && root.document) {
      var el = root.document.querySelector("[data-zone]");
      zone = el ? el.getAttribute("data-zone") : "";
    }
    return sign(item, zone).then(put);
  }

  root.TaizhangQueue = { TAG: TAG, all: all, add: add, remove: remove, sync: sync, whoami: whoami };
})(self);
