/*
 * What every staff page shares: building elements (text always set with textContent) and calling
 * the JSON API with the page's CSRF token. A failed call rejects with an Error carrying the
 * status, the error's code and the whole answer (a 422's "fields", a 409's "head"); a signed-out
 * session goes to the login page and comes back.
 */
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function api(method, path, body) {
    var options = { method: method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
        throw new Error("signed out");
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) return data;
        var error = new Error((data.error && data.error.message) || response.status + " " + response.statusText);
        error.status = response.status;
        error.code = data.error && data.error.code;
        error.data = data;
        throw error;
      });
    });
  }

  window.Staff = { el: el, api: api };
})();
