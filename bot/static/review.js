/*
 * The review pages: the conversations list (filters kept in the address, so a filtered view can
 * be bookmarked, shared and exported) and one conversation's transcript with why the bot
 * answered as it did, the review label form, and (for an admin) a logged reveal.
 * Every text from users is set with textContent (Staff.el), never as HTML.
 */
(function () {
  "use strict";
  var el = Staff.el, api = Staff.api;
  var body = document.body;
  var errorBox = document.getElementById("error");

  function showError(error) { errorBox.textContent = error ? error.message : ""; }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) + " " +
      two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return Math.round(seconds) + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function words(value) { return String(value || "").replace(/_/g, " "); }

  // --- the list ---------------------------------------------------------------------------

  function listPage() {
    var form = document.getElementById("filters");
    var tbody = document.querySelector("#conversations tbody");
    var page = 1, size = 50, total = 0, timer = null, latest = 0;

    function params() {
      var query = new URLSearchParams();
      new FormData(form).forEach(function (value, name) { if (value) query.set(name, value); });
      return query;
    }

    function fillForm() {
      var query = new URLSearchParams(location.search);
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.name && query.has(field.name)) field.value = query.get(field.name);
      });
      page = parseInt(query.get("page") || "1", 10) || 1;
    }

    function load(push) {
      var query = params();
      document.getElementById("export-csv").href = "/api/review/export.csv?" + query;
      document.getElementById("export-jsonl").href = "/api/review/export.jsonl?" + query;
      if (page > 1) query.set("page", page);
      if (push) history.replaceState(null, "", "/review" + (String(query) ? "?" + query : ""));
      var ticket = ++latest;
      body.classList.add("busy");
      api("GET", "/api/review/conversations?" + query).then(function (data) {
        if (ticket !== latest) return;  // a newer filter is on its way
        showError(null);
        total = data.total;
        render(data.conversations);
        var first = total ? (data.page - 1) * data.size + 1 : 0;
        var last = Math.min(total, data.page * data.size);
        document.getElementById("count").textContent = total.toLocaleString("en");
        document.getElementById("page-of").textContent = total ? first + "–" + last + " of " + total.toLocaleString("en") : "";
        document.getElementById("previous").disabled = data.page <= 1;
        document.getElementById("next").disabled = last >= total;
      }).catch(showError).then(function () { if (ticket === latest) body.classList.remove("busy"); });
    }

    function outcomeCell(row) {
      var cell = el("td", "outcome");
      var label = row.outcome === "agent" ? (row.handoffs.filter(function (h) { return h.agent; })[0] || {}).agent : row.outcome;
      cell.appendChild(el("span", "badge outcome-" + row.outcome, words(label)));
      var reasons = row.handoffs.map(function (h) { return words(h.reason); });
      if (reasons.length) cell.appendChild(el("small", null, " " + reasons.join(", ")));
      return cell;
    }

    function ratingCell(row) {
      var parts = [];
      if (row.helpful) parts.push("👍 " + row.helpful);
      if (row.not_helpful) parts.push("👎 " + row.not_helpful);
      row.agent_ratings.forEach(function (helped) { parts.push("agent " + (helped ? "👍" : "👎")); });
      return el("td", "rating", parts.join(" · "));
    }

    function render(rows) {
      tbody.textContent = "";
      document.getElementById("empty").hidden = rows.length > 0;
      rows.forEach(function (row) {
        var tr = el("tr");
        var link = el("a", null, when(row.updated_at));
        link.href = "/review/conversations/" + encodeURIComponent(row.id);
        var first = el("td", null);
        first.appendChild(link);
        tr.appendChild(first);
        tr.appendChild(el("td", null, row.channel));
        tr.appendChild(el("td", null, row.language));
        var question = el("td", "question", row.first_question);
        question.title = row.id;
        tr.appendChild(question);
        tr.appendChild(el("td", "num", row.messages));
        tr.appendChild(outcomeCell(row));
        tr.appendChild(ratingCell(row));
        var state = el("td", "state");
        if (row.reviewed_at) state.appendChild(el("span", "badge reviewed", "reviewed"));
        row.labels.forEach(function (label) { state.appendChild(el("span", "badge label", words(label))); });
        tr.appendChild(state);
        tr.addEventListener("click", function (event) { if (event.target.tagName !== "A") link.click(); });
        tbody.appendChild(tr);
      });
    }

    form.addEventListener("input", function (event) {
      page = 1;
      clearTimeout(timer);
      timer = setTimeout(function () { load(true); }, event.target.type === "search" || event.target.name === "article" ? 300 : 0);
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); page = 1; load(true); });
    form.addEventListener("reset", function () { setTimeout(function () { page = 1; load(true); }, 0); });
    document.getElementById("previous").addEventListener("click", function () { page -= 1; load(true); });
    document.getElementById("next").addEventListener("click", function () { page += 1; load(true); });
    // Back from a transcript (the page restored from the browser's cache): labels may have changed.
    window.addEventListener("pageshow", function (event) { if (event.persisted) load(false); });
    fillForm();
    load(false);
  }

  // --- one conversation -------------------------------------------------------------------

  function transcriptPage() {
    var id = body.dataset.conversationId;
    var path = "/api/review/conversations/" + id.split("/").map(encodeURIComponent).join("/");
    var form = document.getElementById("label-form");
    var current = null;
    var back = document.getElementById("back");
    if (document.referrer && document.referrer.indexOf(location.origin + "/review?") === 0) back.href = document.referrer;

    function fact(list, name, value) {
      if (value === null || value === undefined || value === "") return;
      list.appendChild(el("dt", null, name));
      list.appendChild(el("dd", null, String(value)));
    }

    function render(data) {
      current = data;
      var c = data.conversation;
      var facts = document.getElementById("facts");
      facts.textContent = "";
      fact(facts, "Channel", c.channel);
      fact(facts, "Language", c.language);
      fact(facts, "Started", when(c.created_at));
      fact(facts, "Last message", when(c.updated_at));
      fact(facts, "Outcome", words(c.outcome));
      fact(facts, "User's name", c.user_name);
      var state = document.getElementById("review-state");
      state.textContent = c.reviewed_at ? "reviewed by " + (c.reviewed_by || "?") + " " + when(c.reviewed_at) : "not reviewed";
      state.className = "badge " + (c.reviewed_at ? "reviewed" : "");
      document.getElementById("mark-reviewed").textContent = c.reviewed_at ? "Mark not reviewed" : "Mark reviewed";
      document.getElementById("redaction").textContent = data.redacted
        ? "Phone numbers, e-mail addresses, identity and bank card numbers are redacted. Times are UTC."
        : "Personal data shown: this reveal was logged with your name. Times are UTC.";
      renderMessages(data.messages);
      renderQuestions(data.messages);
      renderLabels(data.labels);
      renderHandoffs(data.handoffs);
      renderList("review-notes", data.notes, function (note) { return when(note.created_at) + " · " + note.author + ": " + note.text; }, "No notes.");
      renderList("reveals", data.reveals, function (r) { return r.by + " · " + when(r.at); }, "Nobody revealed this conversation.");
    }

    function renderMessages(messages) {
      var list = document.getElementById("messages");
      list.textContent = "";
      messages.forEach(function (m) {
        var item = el("li", "msg " + m.role);
        item.id = "m" + m.id;
        var who = m.role === "agent" ? "agent " + (m.agent || "") : m.role;
        item.appendChild(el("div", "who", who + " · " + m.channel + " · " + when(m.created_at)));
        var pressed = m.role === "user" && m.text.charAt(0) === "/";  // a button's payload
        var shown = m.display ? m.display + "  [" + m.text + "]" : (pressed ? "pressed " + m.text : m.text);
        if (m.role === "bot" && m.article_id) {
          item.appendChild(window.TouchpointMarkdown.articleBody(m.text));  // as the user read it
        } else {
          item.appendChild(el("div", "text" + (pressed ? " payload" : ""), shown));
        }
        if (m.role === "bot" && (m.article_id || m.decision)) item.appendChild(why(m));
        if (m.role === "agent" && m.article_id) item.appendChild(el("div", "why", "inserted article " + m.article_id));
        list.appendChild(item);
      });
    }

    function why(m) {
      var box = el("div", "why");
      var line = [];
      if (m.article_id) line.push("article " + m.article_id + (m.title ? " (" + m.title + ")" : ""));
      if (m.score !== null && m.score !== undefined) line.push("score " + m.score.toFixed(3));
      if (m.decision) line.push("decision " + words(m.decision) + (m.threshold !== null && m.threshold !== undefined ? " at " + m.threshold : ""));
      if (m.intent) line.push("intent " + m.intent + (m.confidence !== null && m.confidence !== undefined ? " " + m.confidence.toFixed(2) : ""));
      box.appendChild(el("div", null, line.join(" · ")));
      var runners = (m.ranking || []).filter(function (r) { return r.article_id !== m.article_id; });
      if (runners.length) {
        var ranked = el("ol", "ranking");
        ranked.setAttribute("aria-label", "Runners-up");
        runners.forEach(function (r) { ranked.appendChild(el("li", null, r.article_id + " " + r.score.toFixed(3))); });
        box.appendChild(el("span", null, "runners-up: "));
        box.appendChild(ranked);
      }
      return box;
    }

    function renderQuestions(messages) {
      var select = document.getElementById("label-question");
      var chosen = select.value;
      while (select.options.length > 1) select.remove(1);
      messages.filter(function (m) { return m.role === "user"; }).forEach(function (m) {
        var text = m.display || m.text;
        var option = el("option", null, text.length > 70 ? text.slice(0, 70) + "…" : text);
        option.value = m.id;
        select.appendChild(option);
      });
      select.value = chosen;
    }

    function renderLabels(labels) {
      var list = document.getElementById("labels");
      list.textContent = "";
      labels.forEach(function (label) {
        var item = el("li");
        var text = words(label.label) + (label.article_id ? ": " + label.article_id : "");
        item.appendChild(el("strong", null, text));
        if (label.message_id) {
          var question = current.messages.filter(function (m) { return m.id === label.message_id; })[0];
          if (question) item.appendChild(el("q", null, question.display || question.text));
        }
        if (label.comment) item.appendChild(el("p", null, label.comment));
        item.appendChild(el("small", null, label.author + " · " + when(label.created_at)));
        var remove = el("button", "icon small", "✕");
        remove.type = "button";
        remove.setAttribute("aria-label", "Remove this label");
        remove.addEventListener("click", function () {
          api("DELETE", path + "/labels/" + label.id).then(render).catch(showError);
        });
        item.appendChild(remove);
        list.appendChild(item);
      });
    }

    function renderHandoffs(handoffs) {
      renderList("handoffs", handoffs, function (h) {
        var parts = [words(h.reason), "asked " + when(h.created_at)];
        if (h.agent) parts.push("taken by " + h.agent + " after " + duration(h.queue_wait_seconds));
        else if (h.outcome) parts.push("nobody took it");
        else parts.push("waiting");
        if (h.ticket) parts.push("ticket left");
        if (h.outcome) parts.push(words(h.outcome) + " " + when(h.ended_at));
        if (h.rating !== null && h.rating !== undefined) parts.push(h.rating ? "user: the agent helped 👍" : "user: the agent did not help 👎");
        return parts.join(" · ");
      }, "Never handed off.");
    }

    function renderList(listId, items, line, emptyText) {
      var list = document.getElementById(listId);
      list.textContent = "";
      if (!items.length) list.appendChild(el("li", "muted", emptyText));
      items.forEach(function (item) { list.appendChild(el("li", null, line(item))); });
    }

    form.addEventListener("change", function () {
      var should = form.elements.label.value === "should_answer";
      form.querySelector(".article-line").hidden = !should;
      form.elements.article_id.required = should;
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var messageId = form.elements.message_id.value;
      var label = form.elements.label.value;
      var payload = { label: label, comment: form.elements.comment.value };
      if (messageId) payload.message_id = parseInt(messageId, 10);
      if (label === "should_answer") payload.article_id = form.elements.article_id.value.trim();
      api("POST", path + "/labels", payload).then(function (data) {
        render(data);
        form.reset();
        form.querySelector(".article-line").hidden = true;
        document.getElementById("label-done").textContent = "Saved.";
        setTimeout(function () { document.getElementById("label-done").textContent = ""; }, 3000);
      }).catch(showError);
    });
    document.getElementById("mark-reviewed").addEventListener("click", function () {
      api("POST", path + "/reviewed", { reviewed: !current.conversation.reviewed_at }).then(render).catch(showError);
    });
    var reveal = document.getElementById("reveal");
    if (reveal) {
      reveal.addEventListener("click", function () {
        if (!confirm("Show this conversation's personal data? Your name and the time are logged.")) return;
        api("POST", path + "/reveal").then(function (data) { render(data); reveal.disabled = true; }).catch(showError);
      });
    }
    api("GET", path).then(render).catch(showError);
  }

  if (body.dataset.view === "list") listPage();
  else transcriptPage();
})();
