/*
 * Touchpoint chat widget. Embed with one tag:
 *   <script src="https://support.example.com/widget.js" data-language="zh" data-title="Help" async></script>
 * data-language: zh | en (default: the page's lang, then the browser's); data-title; data-color.
 *
 * Plain JavaScript in a shadow root, so the host page's styles cannot reach it. Talks to the
 * server over a WebSocket that reconnects by itself; what the user sends while offline waits in
 * an outbox (kept in localStorage, so a reload loses nothing) and goes out once, in order.
 * Everything shown is set as text (textContent), never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__touchpointWidget) return;
  window.__touchpointWidget = true;

  var server = new URL(script.src, location.href);
  var storageKey = "touchpoint:" + server.host;
  var config = script.dataset;

  // Texts and limits come from the server (bot/strings, bot/messages), written in when it serves
  // this script, so the widget says what every other channel says.
  var CONFIG = /*TOUCHPOINT_CONFIG*/null;
  var TEXT = CONFIG.strings;
  var MAX_TEXT = CONFIG.limits.max_text; // characters, as the server counts them

  // The session and the language choice are shared by the site's tabs (localStorage); each tab
  // keeps its own unsent messages (sessionStorage survives a reload of that tab), so two tabs
  // never overwrite each other's queue.
  function storage(name) { return name === "outbox" ? window.sessionStorage : window.localStorage; }
  function load(name, fallback) {
    try { var v = storage(name).getItem(storageKey + ":" + name); return v === null ? fallback : JSON.parse(v); }
    catch (e) { return fallback; }
  }
  function save(name, value) {
    try {
      if (value === null) storage(name).removeItem(storageKey + ":" + name);
      else storage(name).setItem(storageKey + ":" + name, JSON.stringify(value));
    } catch (e) { /* storage disabled: the conversation lasts as long as the page */ }
  }
  function pickLanguage(value) { return /^zh/i.test(value || "") ? "zh" : "en"; }
  function newId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var state = {
    session: load("session", null),
    // A language the user picked with the switch wins until they write in the other one.
    language: load("language", null) || pickLanguage(config.language || document.documentElement.lang || navigator.language),
    outbox: load("outbox", []),
    history: [],
    socket: null,
    connected: false,
    retry: 0,
    open: false,
    started: false,
  };

  // --- DOM ---------------------------------------------------------------------------------
  // A custom element of its own, so the page's rules for div, section... never match the host.
  var host = document.createElement("touchpoint-widget");
  host.setAttribute("data-touchpoint", "");
  var root = host.attachShadow({ mode: "open" });
  var color = /^#[0-9a-f]{3,8}$/i.test(config.color || "") ? config.color : "#1f6feb";
  var style = document.createElement("style");
  style.textContent = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif}",
    ".bubble{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;",
    "background:" + color + ";color:#fff;font-size:15px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
    ".bubble:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f2b600;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:84px;z-index:2147483000;width:370px;height:560px;max-height:calc(100vh - 104px);",
    "display:flex;flex-direction:column;background:#fff;color:#1d2329;border-radius:12px;overflow:hidden;",
    "box-shadow:0 8px 30px rgba(0,0,0,.3);font-size:14px;line-height:1.45}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:" + color + ";color:#fff}",
    "header h2{flex:1;margin:0;font-size:16px}",
    "header button{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.6);border-radius:6px;padding:4px 8px;cursor:pointer;font-size:13px}",
    ".status{padding:6px 14px;background:#fff4d6;color:#5c4400;font-size:13px}",
    ".status:empty{display:none}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f8fa}",
    ".msg{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".user{align-self:flex-end;background:" + color + ";color:#fff;border-bottom-right-radius:4px}",
    ".user.pending{opacity:.65}",
    ".user .note{display:block;font-size:11px;opacity:.9}",
    ".bot{align-self:flex-start;background:#fff;border:1px solid #d8dee4;border-bottom-left-radius:4px}",
    ".bot .title{display:block;font-weight:600;margin-bottom:4px}",
    ".bot.agent{background:#ecfdf3;border-color:#abefc6}.bot .who{display:block;font-size:12px;color:#067647;font-weight:600}",
    ".bot ul{margin:4px 0;padding-left:20px;white-space:normal}",
    ".bot .table{overflow-x:auto;margin:4px 0;white-space:normal}",
    ".bot table{border-collapse:collapse;font-size:13px;line-height:1.35}",
    ".bot th,.bot td{border:1px solid #d8dee4;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}",
    ".bot th{background:#f6f8fa;font-weight:600}",
    ".chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px;white-space:normal}",
    ".chips button{border:1px solid " + color + ";background:#fff;color:" + color + ";border-radius:16px;padding:4px 10px;cursor:pointer;font-size:13px}",
    ".notice{align-self:center;text-align:center;background:#e8f0fe;color:#1a3d7c;border-radius:8px;padding:8px 12px;font-size:13px}",
    ".error{align-self:flex-end;color:#b42318;font-size:12px}",
    ".away{display:flex;justify-content:center;padding:6px 10px;border-top:1px solid #d8dee4;background:#f6f8fa}",
    ".away[hidden]{display:none}",
    ".away button{border:1px solid " + color + ";background:#fff;color:" + color + ";border-radius:16px;padding:4px 12px;cursor:pointer;font-size:13px}",
    ".typing{align-self:flex-start;color:#57606a;padding:6px 12px}",
    ".typing span{display:inline-block;width:6px;height:6px;margin:0 2px;border-radius:50%;background:#8c959f;animation:blink 1.2s infinite}",
    ".typing span:nth-child(2){animation-delay:.2s}.typing span:nth-child(3){animation-delay:.4s}",
    "@keyframes blink{0%,80%,100%{opacity:.25}40%{opacity:1}}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #d8dee4;background:#fff}",
    "textarea{flex:1;resize:none;height:42px;max-height:120px;padding:10px;border:1px solid #d0d7de;border-radius:8px;font-size:14px}",
    "form button{border:0;border-radius:8px;padding:0 16px;background:" + color + ";color:#fff;cursor:pointer;font-size:14px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;max-height:100%;border-radius:0}",
    ".bubble{right:12px;bottom:12px}}",
  ].join("");
  root.appendChild(style);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  var bubble = el("button", { class: "bubble", type: "button", "aria-expanded": "false", "aria-controls": "tp-panel" });
  var panel = el("section", { class: "panel", id: "tp-panel", role: "dialog", "aria-labelledby": "tp-title", hidden: "" });
  var header = el("header");
  var title = el("h2", { id: "tp-title" });
  var langButton = el("button", { type: "button", class: "lang" });
  var closeButton = el("button", { type: "button", class: "close" }, "✕");
  var status = el("div", { class: "status", role: "status" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", tabindex: "0" });
  // While a person has (or is about to have) the conversation, the way back to the assistant
  // stays in view, whatever the last message was.
  var away = el("div", { class: "away", hidden: "" });
  var backButton = el("button", { type: "button" });
  away.append(backButton);
  var form = el("form");
  var input = el("textarea", { rows: "1", enterkeyhint: "send" });
  var sendButton = el("button", { type: "submit" });
  header.append(title, langButton, closeButton);
  form.append(input, sendButton);
  panel.append(header, status, log, away, form);
  root.append(bubble, panel);

  function t(key) {
    if (key === "title" && config.title) return config.title;
    return TEXT[state.language][key].replace("{max_text}", String(MAX_TEXT));
  }

  function applyLanguage() {
    bubble.textContent = t("open");
    bubble.setAttribute("aria-label", t("open"));
    title.textContent = t("title");
    langButton.textContent = t("switchTo");
    langButton.setAttribute("aria-label", t("switchLabel"));
    closeButton.setAttribute("aria-label", t("close"));
    input.setAttribute("placeholder", t("placeholder"));
    input.setAttribute("aria-label", t("placeholder"));
    sendButton.textContent = t("send");
    backButton.textContent = t("button_back_to_bot");
    panel.setAttribute("lang", state.language === "zh" ? "zh-CN" : "en");
    updateStatus();
  }

  // --- rendering ---------------------------------------------------------------------------
  // Article text is rendered by markdown.js, served in front of this script, which the curation
  // editor's preview uses too: an answer looks the same in both.
  var articleBody = window.TouchpointMarkdown.articleBody;

  // Keep the user's latest message at the top, so a long answer is read from its beginning.
  function scrollDown() {
    var asked = log.querySelectorAll(".user");
    var last = asked[asked.length - 1];
    log.scrollTop = last ? Math.min(last.offsetTop - log.offsetTop - 8, log.scrollHeight) : log.scrollHeight;
  }

  function userBubble(text, pending, id) {
    var node = el("div", { class: "msg user" + (pending ? " pending" : ""), "data-id": id || "" }, text);
    if (pending) node.appendChild(el("span", { class: "note" }, t("pending")));
    log.appendChild(node);
    return node;
  }

  function botBubble(message, latest) {
    var node = el("div", { class: "msg bot" + (message.role === "agent" ? " agent" : "") });
    if (message.role === "agent") node.appendChild(el("span", { class: "who" }, message.agent || ""));
    if (message.title) node.appendChild(el("span", { class: "title" }, message.title));
    node.appendChild(articleBody(message.text || ""));
    var chips = (message.choices || []).filter(function (c) {
      return c && c.title && c.payload && !(c.payload === "/back_to_bot" && !away.hidden); // the bar has it
    });
    var rateable = latest && message.article_id && !message.handoff;
    if (latest && (chips.length || rateable)) {
      var row = el("div", { class: "chips", role: "group" });
      chips.forEach(function (c) {
        var chip = el("button", { type: "button", class: "choice" }, c.title);
        chip.addEventListener("click", function () { pressButton(c.payload, c.title); });
        row.appendChild(chip);
      });
      if (rateable) {
        [["helpful", "/affirm", "button_helpful"], ["notHelpful", "/deny", "button_not_helpful"]].forEach(function (b3) {
          var label = t(b3[2]);
          var b = el("button", { type: "button", class: "rate " + b3[0] }, label);
          b.addEventListener("click", function () { pressButton(b3[1], label); });
          row.appendChild(b);
        });
      }
      node.appendChild(row);
    }
    log.appendChild(node);
  }

  function render() {
    log.textContent = "";
    var shown = state.history.filter(function (m) { return !(m.role === "user" && m.display === ""); });
    var lastBot = -1;
    shown.forEach(function (m, i) { if (m.role !== "user") lastBot = i; });
    shown.forEach(function (m, i) {
      if (m.role === "user") userBubble(m.display || m.text, false, m.client_id);
      else if (m.role === "system" && !(m.choices && m.choices.length)) {
        log.appendChild(el("div", { class: "notice", role: "status" }, m.text)); // an agent joined or left
      } else {
        botBubble(m, i === lastBot && i === shown.length - 1 && state.outbox.length === 0);
      }
    });
    state.outbox.forEach(function (item) { userBubble(item.label || item.text, true, item.id); });
    if (state.waiting) showTyping();
    scrollDown();
  }

  function showTyping() {
    if (root.querySelector(".typing")) return;
    var dots = el("div", { class: "typing", role: "status", "aria-label": t("typing") });
    dots.append(el("span"), el("span"), el("span"), el("span", { class: "sr" }, t("typing")));
    log.appendChild(dots);
    scrollDown();
  }

  function updateStatus() { status.textContent = state.connected || !state.started ? "" : t("offline"); }

  // --- sending -----------------------------------------------------------------------------
  function enqueue(item) {
    state.outbox.push(item);
    save("outbox", state.outbox.map(strip));
    render();
    flush();
  }


  function sendText(text) {
    text = text.trim();
    if (!text) return true;
    if (Array.from(text).length > MAX_TEXT) {
      showError(t("tooLong"));
      return false;
    }
    enqueue({ type: "message", id: newId(), text: text });
    return true;
  }

  function showError(message) {
    log.appendChild(el("div", { class: "error", role: "alert" }, t("error") + message));
    scrollDown();
  }

  backButton.addEventListener("click", function () {
    away.hidden = true;
    pressButton("/back_to_bot", t("button_back_to_bot"));
  });
  function pressButton(payload, label) { enqueue({ type: "button", id: newId(), payload: payload, label: label }); }

  // The server handles one message at a time, in order, and each id once: the whole outbox can
  // be sent on every (re)connection, and an item leaves it when its reply, ack or error arrives.
  function flush() {
    if (!state.connected) return;
    state.outbox.forEach(function (item) {
      if (item.sentOn === state.socket) return;
      item.sentOn = state.socket;
      state.socket.send(JSON.stringify({ type: item.type, id: item.id, text: item.text, payload: item.payload, label: item.label }));
    });
  }

  function settle(id) {
    var index = state.outbox.findIndex(function (item) { return item.id === id; });
    if (index < 0) return null;
    var item = state.outbox.splice(index, 1)[0];
    save("outbox", state.outbox.map(strip));
    return item;
  }

  function strip(item) { return { type: item.type, id: item.id, text: item.text, payload: item.payload, label: item.label }; }

  // --- the connection ----------------------------------------------------------------------
  function connect() {
    if (state.socket) return;
    state.started = true;
    var url = (server.protocol === "https:" ? "wss://" : "ws://") + server.host + "/widget/ws";
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({ type: "hello", session: state.session, language: state.language }));
    });
    socket.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      receive(frame);
    });
    socket.addEventListener("close", function (event) {
      if (state.socket !== socket) return;
      if (event.code === 1009 && state.outbox.length) {
        // The server refused a frame as too big: that message can never go, the rest can.
        var refused = settle(state.outbox[0].id);
        render();
        showError(t("tooLong"));
        if (refused && refused.text && !input.value) input.value = refused.text;
      }
      state.socket = null;
      state.connected = false;
      state.waiting = false;
      updateStatus();
      var delay = Math.min(10000, 500 * Math.pow(2, state.retry++)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    });
  }

  function showState(conversationState) { // bot | waiting | ticket | agent
    if (conversationState) away.hidden = conversationState === "bot";
  }

  function receive(frame) {
    showState(frame.state);
    if (frame.type === "session") {
      state.session = frame.session;
      save("session", frame.session);
      var chosen = load("language", null);
      if (chosen && chosen !== frame.language) {
        state.socket.send(JSON.stringify({ type: "language", language: chosen })); // switched while offline
      } else if (frame.language && frame.language !== state.language) {
        state.language = frame.language;
        applyLanguage();
      }
      state.history = frame.messages || [];
      // Messages that reached the server before the connection dropped are in the history.
      var delivered = {};
      state.history.forEach(function (m) { if (m.client_id) delivered[m.client_id] = true; });
      state.outbox = state.outbox.filter(function (item) { return !delivered[item.id]; });
      save("outbox", state.outbox.map(strip));
      state.connected = true;
      state.retry = 0;
      updateStatus();
      render();
      if (!state.history.length && !state.outbox.length && state.open) start();
      flush();
    } else if (frame.type === "push") {
      (frame.messages || []).forEach(function (m) { state.history.push(m); });
      render();
    } else if (frame.type === "typing") {
      state.waiting = true;
      showTyping();
    } else if (frame.type === "reply") {
      var item = settle(frame.id);
      state.waiting = false;
      if (item) state.history.push({ role: "user", text: item.text || item.payload, display: item.type === "button" ? item.label : null, client_id: item.id });
      (frame.messages || []).forEach(function (m) { state.history.push(m); });
      if (frame.language && frame.language !== state.language) {
        state.language = frame.language; // the user wrote in the other language
        save("language", null);
        applyLanguage();
      }
      render();
    } else if (frame.type === "error") {
      var failed = frame.id ? settle(frame.id) : null;
      state.waiting = false;
      render();
      if (failed) {
        showError(frame.message);
        if (failed.text && !input.value) input.value = failed.text; // the user's words are not lost
      }
    }
  }

  function start() {
    if (state.history.length || state.outbox.length) return;
    enqueue({ type: "button", id: newId(), payload: "/greet", label: "" });
  }

  // --- behaviour ---------------------------------------------------------------------------
  function openPanel() {
    state.open = true;
    panel.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    if (!state.socket) connect();
    else if (state.connected) start();
    updateStatus();
    input.focus();
    scrollDown();
  }

  function closePanel() {
    state.open = false;
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.focus();
  }

  bubble.addEventListener("click", function () { if (state.open) closePanel(); else openPanel(); });
  closeButton.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") closePanel(); });
  langButton.addEventListener("click", function () {
    state.language = state.language === "zh" ? "en" : "zh";
    save("language", state.language);
    applyLanguage();
    render();
    if (state.connected) state.socket.send(JSON.stringify({ type: "language", language: state.language }));
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sendText(input.value)) input.value = ""; // a refused message stays in the box
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("online", function () { if (state.started && !state.socket) connect(); });

  applyLanguage();
  render(); // unsent messages show at once, before the connection is back
  document.body.appendChild(host);
  // A returning visitor (or one with unsent messages) gets the conversation back at once.
  if (state.session || state.outbox.length) connect();
})();
