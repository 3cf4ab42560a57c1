/*
 * The agents' console: the live queue, one conversation at a time, replies, knowledge-base
 * search, notes, hand-back and close. Everything shown is set with textContent.
 */
(function () {
  "use strict";
  var me = Number(document.body.dataset.agentId);
  var $ = function (id) { return document.getElementById(id); };
  var state = { queue: [], open: null, detail: null, seen: {}, first: true };

  var el = window.Staff.el, api = window.Staff.api;

  function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

  function waited(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  function conversationPath(id) { return "/api/desk/conversations/" + encodeURIComponent(id); }

  // --- the queue ---------------------------------------------------------------------------
  function loadQueue() {
    return api("GET", "/api/desk/queue").then(function (data) {
      var fresh = data.queue.filter(function (item) { return !state.seen[item.conversation_id]; });
      data.queue.forEach(function (item) { state.seen[item.conversation_id] = true; });
      if (fresh.length && !state.first) chime();
      state.first = false;
      state.queue = data.queue;
      state.loadedAt = Date.now();
      renderQueue(fresh);
    }).catch(showError);
  }

  function renderQueue(fresh) {
    var list = $("queue");
    list.textContent = "";
    var freshIds = (fresh || []).map(function (i) { return i.conversation_id; });
    state.queue.forEach(function (item) {
      var li = el("li", item.conversation_id === state.open ? "open" : "");
      if (freshIds.indexOf(item.conversation_id) >= 0) li.classList.add("new");
      li.tabIndex = 0;
      li.dataset.id = item.conversation_id;
      var meta = el("div", "meta");
      meta.append(el("span", "badge", item.channel), el("span", "badge", item.language), el("span", "badge", item.reason));
      if (item.ticket) meta.append(el("span", "badge ticket", "ticket: left while nobody was online"));
      var wait = el("span", "wait", waited(item.wait_seconds));
      wait.dataset.seconds = item.wait_seconds;
      meta.append(wait);
      meta.append(el("span", "owner", item.claimed_by ? "with " + item.claimed_by : "waiting"));
      if (item.user_name) meta.append(el("span", "name", item.user_name));
      li.append(meta, el("div", "last", item.last_message || "(no message)"));
      if (item.attempts.length) {
        li.append(el("div", "attempts", "Bot tried: " + item.attempts.map(function (a) {
          return (a.title || a.article_id) + (a.score === null ? "" : " (" + a.score.toFixed(2) + ")");
        }).join(" · ")));
      }
      li.addEventListener("click", function () { open(item.conversation_id); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter") open(item.conversation_id); });
      list.append(li);
    });
    $("queue-count").textContent = state.queue.length ? "(" + state.queue.length + ")" : "";
    $("queue-empty").hidden = state.queue.length > 0;
  }

  // --- finding any conversation that was handed off, closed ones too --------------------------
  var findTimer = null;
  $("find").addEventListener("input", function () {
    clearTimeout(findTimer);
    var query = $("find").value.trim();
    findTimer = setTimeout(function () {
      api("GET", "/api/desk/conversations?q=" + encodeURIComponent(query)).then(function (data) {
        var list = $("found");
        list.textContent = "";
        if (!query) return;
        data.conversations.forEach(function (c) {
          var li = el("li", "");
          li.tabIndex = 0;
          li.append(el("span", "badge", c.channel), el("span", "badge", c.outcome || c.state),
            document.createTextNode(" " + (c.user_name ? c.user_name + " · " : "") + c.conversation_id));
          li.addEventListener("click", function () { open(c.conversation_id); });
          li.addEventListener("keydown", function (e) { if (e.key === "Enter") open(c.conversation_id); });
          list.append(li);
        });
        if (!data.conversations.length) list.append(el("li", "empty", "No conversation matches."));
      }).catch(showError);
    }, 250);
  });

  setInterval(function () { // wait times tick without asking the server
    var elapsed = Math.floor((Date.now() - (state.loadedAt || Date.now())) / 1000);
    document.querySelectorAll("#queue .wait").forEach(function (node) {
      node.textContent = waited(Number(node.dataset.seconds) + elapsed);
    });
  }, 1000);

  function chime() { // agents hear a new chat
    try {
      var audio = new (window.AudioContext || window.webkitAudioContext)();
      var tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound available */ }
    if (document.hidden) document.title = "● New chat · Touchpoint desk";
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden) document.title = "Desk · Touchpoint"; });

  // --- one conversation --------------------------------------------------------------------
  function open(id) {
    state.open = id;
    $("conversation").hidden = false;
    showError(null);
    renderQueue();
    return loadConversation();
  }

  function loadConversation() {
    if (!state.open) return Promise.resolve();
    var id = state.open;
    return api("GET", conversationPath(id)).then(function (data) {
      if (state.open !== id) return;
      state.detail = data;
      renderConversation();
    }).catch(showError);
  }

  function renderConversation() {
    var data = state.detail;
    $("conversation-title").textContent = (data.user_name ? data.user_name + " · " : "") + data.id + " · " + data.channel + " · " + data.language + (data.reason ? " · " + data.reason : "");
    var mine = data.owner && data.owner.id === me;
    // data.reason is set while a handoff is open (waiting, a ticket, or one its user left for the bot).
    $("conversation-owner").textContent = data.owner ? "with " + data.owner.name
      : data.reason ? (data.state === "ticket" ? "a ticket" : data.state === "bot" ? "a ticket; the user is with the bot" : "waiting")
      : "back with the bot";
    $("claim").hidden = !(data.reason && !data.owner);
    $("handback").hidden = $("close").hidden = !mine;
    $("reply").hidden = !mine;
    var log = $("transcript");
    log.textContent = "";
    data.messages.forEach(function (m) {
      if (m.role === "user" && m.display === "") { // the widget's silent greeting
        log.append(el("div", "msg system", "opened the chat (" + data.channel + ")"));
        return;
      }
      var node = el("div", "msg " + m.role);
      var who = m.role === "agent" ? (m.agent || "Agent") : m.role === "bot" ? "Bot" + (m.title ? " · " + m.title : "") + (m.score !== null && m.score !== undefined ? " · " + m.score.toFixed(2) : "") : m.role === "user" ? "User" : "";
      if (who) node.append(el("span", "who", who));
      if (m.role === "user" && m.display) { // a button press, as the user saw it
        var pressed = el("span", "pressed", m.display);
        pressed.title = m.text;
        node.append(pressed);
      } else {
        node.append(document.createTextNode(m.text));
      }
      if (m.choices && m.choices.length) {
        node.append(el("div", "offered", "Offered: " + m.choices.map(function (c) { return c.title; }).join(" · ")));
      }
      log.append(node);
    });
    var earlier = $("handoffs");
    earlier.textContent = "";
    data.handoffs.forEach(function (h) {
      earlier.append(el("li", "", h.started.slice(0, 16).replace("T", " ") + " · " + h.reason + " · " +
        (h.outcome || "open") + (h.agent ? " · " + h.agent : "")));
    });
    log.scrollTop = log.scrollHeight;
    var notes = $("notes");
    notes.textContent = "";
    data.notes.forEach(function (n) {
      var li = el("li");
      li.append(el("strong", "", n.author + ": "), document.createTextNode(n.text));
      notes.append(li);
    });
  }

  function act(path, body) {
    showError(null);
    return api("POST", conversationPath(state.open) + path, body).then(function () {
      return Promise.all([loadConversation(), loadQueue()]);
    }).catch(showError);
  }

  $("claim").addEventListener("click", function () { act("/claim"); });
  $("handback").addEventListener("click", function () { act("/handback"); });
  $("close").addEventListener("click", function () { act("/close"); });
  $("reply").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = $("reply-text");
    var text = box.value.trim();
    if (!text) return;
    // The article an agent inserted and still sends is recorded: curators see which article
    // answered a question the bot could not (the suggestions inbox).
    var inserted = state.inserted && text.indexOf(state.inserted.body) !== -1 ? state.inserted.article_id : null;
    act("/messages", { text: text, article_id: inserted }).then(function () {
      if (!$("error").textContent) { box.value = ""; state.inserted = null; }
    });
  });
  $("reply-text").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); $("reply").requestSubmit(); }
  });
  $("note").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = $("note-text");
    if (!box.value.trim()) return;
    act("/notes", { text: box.value }).then(function () { box.value = ""; });
  });

  // --- search as you type ------------------------------------------------------------------
  var searchTimer = null;
  var searchSeq = 0;
  $("search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 200);
  });
  function runSearch() {
    var query = $("search").value.trim();
    var seq = ++searchSeq;
    var language = state.detail ? state.detail.language : "en";
    if (!query) { $("results").textContent = ""; return; }
    api("GET", "/api/desk/search?language=" + language + "&q=" + encodeURIComponent(query)).then(function (data) {
      if (seq !== searchSeq) return; // an older answer arriving late
      var list = $("results");
      list.textContent = "";
      data.results.forEach(function (r) {
        var li = el("li");
        li.append(el("strong", "", r.title), el("div", "score", r.article_id + " · " + r.score.toFixed(2)));
        var insert = el("button", "", "Insert");
        insert.type = "button";
        insert.addEventListener("click", function () {
          var box = $("reply-text");
          box.value = (box.value ? box.value + "\n\n" : "") + r.title + "\n" + r.body;
          state.inserted = { article_id: r.article_id, body: r.body };
          box.focus();
        });
        li.append(insert);
        list.append(li);
      });
    }).catch(showError);
  }

  // --- live events -------------------------------------------------------------------------
  var retry = 0;
  function connect() {
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/desk/ws");
    socket.addEventListener("open", function () { retry = 0; $("live").textContent = "live"; loadQueue(); loadConversation(); });
    socket.addEventListener("message", function (event) {
      var data = JSON.parse(event.data);
      if (data.type === "queue") loadQueue();
      if (data.type === "message") {
        loadQueue();
        if (data.conversation_id === state.open) loadConversation();
      }
    });
    socket.addEventListener("close", function () {
      $("live").textContent = "reconnecting…";
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++)));
    });
  }

  loadQueue();
  connect();
})();
