// taizhang web app: the service worker. It keeps the static files and the
// submit pages a user opened on the device, so that a submit page opens
// without a network, and it sends the offline queue (queue.js) when
// Background Sync says the network is back. It is served at
// /sw.js?v=VERSION (its scope is the whole site); a new build's version is
// a new worker, which drops the old build's static files.
/* global TaizhangQueue */
"use strict";

var VERSION = new URL(self.location.href).searchParams.get("v") || "dev";
var STATIC = "taizhang-static-" + VERSION;
var PAGES = "taizhang-pages";
var ASSETS = ["app.css", "app.js", "queue.js", "favicon.svg"].map(function (n) {
  return "/static/" + n + "?v=" + VERSION;
});

importScripts("/static/queue.js?v=" + VERSION);

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(STATIC)
    .then(function (c) { return c.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (e) {
  e.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("taizhang-static-") === 0 && k !== STATIC;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function isSubmitPage(url) {
  return url.origin === self.location.origin && /^\/units\/[^/]+\/submit$/.test(url.pathname);
}

// savePage keeps a submit page as the server answered it, but without its
// evidence id: a page opened from the device gets a new id in the browser
// (app.js), so two items never share one.
function savePage(url, resp) {
  if (!resp.ok || resp.redirected || resp.type !== "basic") { return Promise.resolve(); }
  return resp.text().then(function (html) {
    html = html.replace(/(<input type="hidden" name="id" value=")[^"]*"/, "$1\"");
    var headers = new Headers(resp.headers);
    headers.delete("Content-Length"); // the body is now shorter, and decoded
    headers.delete("Content-Encoding");
    return caches.open(PAGES).then(function (c) {
      return c.put(url, new Response(html, { status: 200, headers: headers }));
    });
  });
}

// savedPage is the kept copy of a submit page: the same URL, else the
// unit's plain submit page.
function savedPage(url) {
  return caches.open(PAGES).then(function (c) {
    return c.match(url.href).then(function (hit) { return hit || c.match(url.origin + url.pathname); });
  });
}

// page answers a submit page from the network, keeping a copy; without a
// network (or with the server failing) from the copy.
function page(e, url) {
  return fetch(e.request).then(function (resp) {
    if (resp.status >= 500) {
      return savedPage(url).then(function (hit) { return hit || resp; });
    }
    e.waitUntil(savePage(url.href, resp.clone()));
    return resp;
  }, function (err) {
    return savedPage(url).then(function (hit) {
      if (hit) { return hit; }
      throw err;
    });
  });
}

// staticFile answers a static file from this build's cache, else the
// network, else any build's copy (a kept page may name an older build).
function staticFile(req) {
  return caches.match(req).then(function (hit) {
    return hit || fetch(req).catch(function (err) {
      return caches.match(req, { ignoreSearch: true }).then(function (old) {
        if (old) { return old; }
        throw err;
      });
    });
  });
}

self.addEventListener("fetch", function (e) {
  var req = e.request;
  if (req.method !== "GET") { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    e.respondWith(staticFile(req));
  } else if (req.mode === "navigate" && isSubmitPage(url)) {
    e.respondWith(page(e, url));
  }
});

// A page the worker did not load (the first visit, before the worker
// controlled it) asks for its copy to be kept.
self.addEventListener("message", function (e) {
  var url = e.data && e.data.page ? new URL(e.data.page, self.location.href) : null;
  if (url && isSubmitPage(url)) {
    e.waitUntil(fetch(url.href, { credentials: "same-origin" }).then(function (resp) {
      return savePage(url.href, resp);
    }).catch(function () {}));
  }
});

self.addEventListener("sync", function (e) {
  if (e.tag === TaizhangQueue.TAG) { e.waitUntil(TaizhangQueue.sync()); }
});
