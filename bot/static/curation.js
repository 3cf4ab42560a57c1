/*
 * The curation pages: the articles, the editor (both languages side by side, preview, conflicts,
 * history, test panel) and the suggestions inbox. One page per view of templates/curation.html;
 * the API is bot/curation.py. Everything shown is set with textContent, never as HTML.
 */
(function () {
  "use strict";
  var view = document.body.dataset.view;
  var SIDES = ["zh", "en"]; // left to right in the editor
  var LANGUAGE_NAMES = { zh: "中文 · zh", en: "English · en" };
  var ID_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
  var $ = function (id) { return document.getElementById(id); };

  var el = window.Staff.el, api = window.Staff.api;

  function button(text, cls, onClick) {
    var node = el("button", cls, text);
    node.type = "button";
    if (onClick) node.addEventListener("click", onClick);
    return node;
  }

  function link(href, text, cls) {
    var node = el("a", cls, text);
    node.href = href;
    return node;
  }

  function say(node, error) { node.textContent = error ? String(error.message || error) : ""; }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function articlePath(id, language) {
    return "/api/kb/articles/" + encodeURIComponent(id) + (language ? "/" + language : "");
  }
  function editorPath(id) { return "/curation/articles/" + encodeURIComponent(id); }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // --- what the bot serves ------------------------------------------------------------------
  // Polled every 2 s while a publish is on its way to the action servers, else every 15 s.
  var statusTimer = null;
  function watchStatus() {
    clearTimeout(statusTimer);
    var line = $("kb-status");
    api("GET", "/api/kb/status").then(function (data) {
      var failed = data.workers.filter(function (w) { return w.error; });
      var versions = data.workers.map(function (w) { return w.version; });
      line.className = "kb-status";
      if (failed.length) {
        var w = failed[0];
        line.classList.add("failed");
        line.textContent = "Version " + (w.failed_version || data.version) + " could not be built (" + w.worker + "): " +
          w.error + ". Version " + w.version + " is still serving.";
      } else if (!data.workers.length) {
        line.classList.add("pending");
        line.textContent = "No action server is running: nothing answers from the knowledge base.";
      } else if (data.live) {
        line.textContent = "Live: version " + data.version + " on " + plural(data.workers.length, "action server", "action servers");
      } else {
        line.classList.add("pending");
        line.textContent = "Publishing version " + data.version + "… (servers at " +
          (versions.length === 1 ? "version " : "versions ") + versions.join(", ") + ")";
      }
      statusTimer = setTimeout(watchStatus, data.live ? 15000 : 2000);
    }).catch(function (error) {
      line.className = "kb-status failed";
      line.textContent = "Could not read what the bot serves: " + error.message;
      statusTimer = setTimeout(watchStatus, 15000);
    });
  }

  // --- the articles -------------------------------------------------------------------------
  function articlesPage() {
    var form = $("filters");
    var seq = 0;
    var params = new URLSearchParams(location.search);
    // The filters live in the address, so a reload or the back button keeps them.
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || !params.has(field.name)) return;
      if (field.type === "checkbox") field.checked = params.get(field.name) === "1";
      else if (field.tagName === "SELECT" && !Array.prototype.some.call(field.options, function (o) { return o.value === params.get(field.name); })) {
        field.append(el("option", "", params.get(field.name))); // tags and editors arrive with the list
        field.value = params.get(field.name);
      } else field.value = params.get(field.name);
    });

    function query() {
      var out = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name) return;
        if (field.type === "checkbox") { if (field.checked) out.set(field.name, "1"); }
        else if (field.value.trim()) out.set(field.name, field.value.trim());
      });
      return out.toString();
    }

    function fill(select, options, chosen) {
      var first = select.options[0];
      select.textContent = "";
      select.append(first);
      options.forEach(function (o) {
        var option = el("option", "", o.label);
        option.value = o.value;
        select.append(option);
      });
      select.value = chosen;
    }

    function load() {
      var q = query();
      history.replaceState(null, "", "/curation" + (q ? "?" + q : ""));
      var mine = ++seq;
      api("GET", "/api/kb/articles?" + q).then(function (data) {
        if (mine !== seq) return; // a newer search is on its way
        say($("error"), null);
        fill($("tag"), data.tags.map(function (t) { return { value: t, label: t }; }), $("tag").value);
        fill($("edited-by"), data.editors.map(function (u) { return { value: u.username, label: u.name + " (" + u.username + ")" }; }), $("edited-by").value);
        render(data.articles, data.truncated);
      }).catch(function (error) { say($("error"), error); });
    }

    function render(articles, truncated) {
      var body = $("articles").tBodies[0];
      body.textContent = "";
      articles.forEach(function (a) {
        var row = el("tr");
        var href = editorPath(a.id);
        var idCell = el("td", "id");
        idCell.append(link(href, a.id));
        var status = el("td");
        status.append(statusBadge(a.status, a.has_unpublished_changes));
        var tags = el("td", "tags");
        a.tags.forEach(function (t) { tags.append(el("span", "tag", t)); });
        var rated = a.helpful + a.not_helpful;
        var helpful = el("td", "num");
        if (rated) {
          helpful.append(el("strong", a.helpful_rate < 0.5 ? "low" : "", Math.round(a.helpful_rate * 100) + "%"),
            el("small", "", " " + a.helpful + " 👍 " + a.not_helpful + " 👎"));
          helpful.title = a.helpful + " helpful, " + a.not_helpful + " not helpful (30 days)";
        } else helpful.append(el("span", "muted", "—"));
        var title = el("td", "title");
        title.append(link(href, a.title));
        if (!a.translated) title.append(el("span", "untranslated", "no " + (a.language === "en" ? "zh" : "en") + " version"));
        var updated = el("td", "updated");
        updated.append(document.createTextNode(a.updated_by || "command line"), el("small", "", when(a.updated_at)));
        row.append(idCell, el("td", "lang", a.language), title, status, tags, el("td", "num", String(a.answered_30d)), helpful, updated);
        row.addEventListener("click", function (event) { if (!event.target.closest("a")) location.href = href; });
        body.append(row);
      });
      $("count").textContent = truncated ? "(the first " + articles.length + ": search or filter to narrow them)" : "(" + articles.length + ")";
      $("empty").hidden = articles.length > 0;
    }

    var typing = null;
    $("q").addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(load, 250); });
    form.addEventListener("change", function (event) { if (event.target.id !== "q") load(); });
    form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
    load();
  }

  function statusBadge(status, unpublished) {
    var badge = el("span", "badge status-" + status, status);
    if (unpublished) {
      badge.textContent = "published · unpublished changes";
      badge.classList.add("changed");
    }
    return badge;
  }

  // --- the editor ---------------------------------------------------------------------------
  function editorPage() {
    var isNew = view === "new";
    var sides = {};
    var leaving = false; // set when the page navigates on purpose, after a save

    function articleId() { return isNew ? $("new-id").value.trim() : document.body.dataset.articleId; }

    window.addEventListener("beforeunload", function (event) {
      if (leaving) return;
      var dirty = Object.keys(sides).some(function (k) { return sides[k].dirty(); });
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });

    if (isNew) {
      var params = new URLSearchParams(location.search);
      var language = params.get("language") === "zh" ? "zh" : params.get("language") === "en" ? "en" : "zh";
      $("new-language").value = language;
      var side = makeSide(language, { isNew: true, articleId: articleId, onSaved: function () {
        leaving = true;
        location.href = editorPath(articleId());
      } });
      sides = { only: side };
      $("sides").append(side.node);
      side.start({ questions: params.get("question") ? [params.get("question")] : [] });
      $("sides").classList.add("single");
      $("new-language").addEventListener("change", function () { side.setLanguage($("new-language").value); });
      $("try-language").value = language;
      $("try-query").value = params.get("question") || "";
      $("new-id").addEventListener("input", function () {
        var id = $("new-id").value.trim();
        $("new-id-error").textContent = id && !ID_PATTERN.test(id) ? "Only lowercase letters, digits and single hyphens, e.g. roaming-activate" : "";
      });
      $("new-id").focus();
    } else {
      api("GET", articlePath(articleId())).then(function (data) {
        SIDES.forEach(function (language) {
          var side = makeSide(language, { articleId: articleId });
          sides[language] = side;
          $("sides").append(side.node);
          side.show(data.versions[language]);
        });
        var first = data.versions.zh || data.versions.en;
        $("article-title").textContent = articleId() + " · " + first.head.title;
        $("try-language").value = data.versions.zh ? "zh" : "en";
      }).catch(function (error) { say($("error"), error); });
    }

    // The test panel: the question with the published knowledge base, and with the form of that
    // language's version in place of its published one.
    $("try").addEventListener("submit", function (event) {
      event.preventDefault();
      var query = $("try-query").value.trim();
      if (!query) return;
      var language = $("try-language").value;
      var side = isNew ? (sides.only.language === language ? sides.only : null) : sides[language];
      var draft = side ? side.draft() : null;
      say($("try-error"), null);
      $("try-results").classList.add("busy");
      api("POST", "/api/kb/try", { query: query, language: language, draft: draft }).then(function (data) {
        renderTry(data, draft ? draft.id : articleId());
      }).catch(function (error) {
        $("try-results").textContent = "";
        $("try-intent").textContent = "";
        say($("try-error"), error.code === "search_unavailable"
          ? "Search is unavailable, so the test panel cannot run: " + error.message + "."
          : error);
      }).then(function () { $("try-results").classList.remove("busy"); });
    });
  }

  function renderTry(data, editing) {
    var intent = data.intent;
    $("try-intent").textContent = intent
      ? "Intent (Rasa's NLU reading): " + intent.name + " (" + Number(intent.confidence).toFixed(2) + ")" +
        (intent.name === "out_of_scope" ? ": off-topic, so the bar to answer is higher" : "")
      : "Rasa's reading is not available (Rasa is not answering).";
    var results = $("try-results");
    results.textContent = "";
    results.append(verdictColumn("Published", data.published, editing),
      verdictColumn("With your draft", data.draft, editing));
  }

  var DECISIONS = {
    answer: "answers",
    choices: "answers, offering close runners-up",
    hand_off: "hands off to a person",
    off_topic: "says it is off-topic and offers a person",
  };

  function verdictColumn(heading, verdict, editing) {
    var column = el("section", "verdict");
    column.append(el("h4", "", heading));
    if (!verdict) {
      column.append(el("p", "empty", "No draft: this language has no version in the form."));
      return column;
    }
    var decision = el("p", "decision");
    decision.append(el("span", "badge decision-" + verdict.decision, verdict.decision), document.createTextNode(" The bot " + (DECISIONS[verdict.decision] || verdict.decision)));
    if (verdict.answer) decision.append(document.createTextNode(" with "), el("strong", "", verdict.answer.title));
    column.append(decision);
    if (verdict.choices.length) {
      column.append(el("p", "muted", "Also offered: " + verdict.choices.map(function (c) { return c.title; }).join(" · ")));
    }
    column.append(el("p", "muted", "Threshold " + verdict.threshold.toFixed(3) + " (fused score needed to answer)"));
    var table = el("table", "grid hits");
    var head = el("tr");
    ["Article", "Title", "Fused", "Dense", "Lexical", "Classifier"].forEach(function (h, i) {
      var th = el("th", i > 1 ? "num" : "", h);
      th.scope = "col";
      head.append(th);
    });
    var thead = el("thead");
    thead.append(head);
    var tbody = el("tbody");
    verdict.hits.forEach(function (hit) {
      var row = el("tr", hit.article_id === editing ? "editing" : "");
      var score = el("td", "num" + (hit.score >= verdict.threshold ? " over" : ""), hit.score.toFixed(3));
      row.append(el("td", "id", hit.article_id), el("td", "", hit.title), score,
        el("td", "num", hit.dense.toFixed(3)), el("td", "num", hit.lexical.toFixed(3)), el("td", "num", hit.classifier.toFixed(3)));
      tbody.append(row);
    });
    table.append(thead, tbody);
    column.append(table);
    if (!verdict.hits.length) column.append(el("p", "empty", "No article matched."));
    return column;
  }

  // One language's version of the article: its form, preview, conflict panel and history.
  function makeSide(language, options) {
    var node = document.getElementById("side-template").content.firstElementChild.cloneNode(true);
    var q = function (selector) { return node.querySelector(selector); };
    var form = q("form.version");
    var fields = { title: q("input.title"), body: q("textarea.body"), tags: q("input.tags") };
    var questionList = q(".question-list");
    var side = {
      node: node,
      language: language,
      state: null, // the server's ArticleState, null for a version not saved yet
      base: null, // the revision the form's edit started from
      saved: null, // the content the form started from, to tell unsaved changes
      conflict: null,
    };

    function empty() { return { title: "", questions: [], body: "", tags: [] }; }

    function values() {
      return {
        title: fields.title.value.trim(),
        questions: Array.prototype.map.call(questionList.querySelectorAll("input"), function (i) { return i.value.trim(); })
          .filter(Boolean),
        body: fields.body.value.trim(),
        tags: fields.tags.value.split(/[,，]/).map(function (t) { return t.trim(); }).filter(Boolean),
      };
    }

    side.dirty = function () {
      return !form.hidden && JSON.stringify(values()) !== JSON.stringify(side.saved || empty());
    };

    side.draft = function () {
      if (form.hidden) return null;
      var id = options.articleId();
      return Object.assign({ id: ID_PATTERN.test(id) ? id : "new-article", language: side.language }, values());
    };

    side.setLanguage = function (value) {
      side.language = value;
      node.lang = value === "zh" ? "zh-CN" : "en";
      q(".language").textContent = LANGUAGE_NAMES[value];
    };

    // --- the form ---
    function questionRow(text) {
      var li = el("li");
      var input = el("input");
      input.value = text || "";
      input.setAttribute("aria-label", "Question");
      var up = button("↑", "icon", function () { if (li.previousElementSibling) { li.parentNode.insertBefore(li, li.previousElementSibling); changed(); up.focus(); } });
      var down = button("↓", "icon", function () { if (li.nextElementSibling) { li.parentNode.insertBefore(li.nextElementSibling, li); changed(); down.focus(); } });
      var remove = button("✕", "icon remove", function () {
        var next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        changed();
        if (next) next.querySelector("input").focus();
      });
      up.setAttribute("aria-label", "Move up");
      down.setAttribute("aria-label", "Move down");
      remove.setAttribute("aria-label", "Remove this question");
      li.append(input, up, down, remove);
      return li;
    }

    function fill(content) {
      fields.title.value = content.title;
      fields.body.value = content.body;
      fields.tags.value = content.tags.join(", ");
      questionList.textContent = "";
      (content.questions.length ? content.questions : [""]).forEach(function (text) { questionList.append(questionRow(text)); });
      changed();
    }

    function fit() { // the answer's box grows with its text, up to the CSS's max-height
      if (!node.isConnected) return;
      fields.body.style.height = "auto";
      fields.body.style.height = fields.body.scrollHeight + 2 + "px";
    }

    function changed() {
      fit();
      var preview = q(".preview");
      preview.textContent = "";
      var bubble = el("div", "msg bot"); // the widget's answer bubble: its title, then the body
      var content = values();
      if (content.title) bubble.append(el("span", "title", content.title));
      bubble.append(window.TouchpointMarkdown.articleBody(content.body));
      preview.append(content.title || content.body ? bubble : el("p", "placeholder", "The title and answer show here as the chat widget shows them."));
      q(".unsaved").hidden = !side.dirty();
      if (side.conflict) renderConflict();
    }

    form.addEventListener("input", changed);
    q(".add-question").addEventListener("click", function () {
      var row = questionRow("");
      questionList.append(row);
      row.querySelector("input").focus();
    });

    // --- the status, and what may be done in it ---
    function renderState() {
      var badge = q(".status-badge");
      badge.textContent = "";
      var state = side.state;
      if (!state) {
        badge.append(el("span", "badge status-new", "not saved yet"));
      } else {
        badge.append(statusBadge(state.status, false));
        if (state.live) badge.append(el("span", "muted", " live: revision " + state.live));
        if (state.has_unpublished_changes) badge.append(el("span", "badge changed", "unpublished changes (revision " + state.head.number + ")"));
        else if (state.status !== "published") badge.append(el("span", "muted", " newest: revision " + state.head.number));
      }
      q(".unpublish").hidden = q(".archive").hidden = !state; // nothing to take off the air yet
      q(".unpublish").disabled = !state || state.status !== "published";
      q(".archive").disabled = !state || state.status === "archived";
      q(".history").hidden = !state;
    }

    side.show = function (state) {
      side.setLanguage(language);
      side.state = state;
      if (state) {
        side.base = state.head.number;
        side.saved = content(state.head);
        form.hidden = false;
        fill(side.saved);
      } else {
        q(".missing").hidden = false;
        q(".missing .empty").textContent = "No " + LANGUAGE_NAMES[language] + " version yet.";
        q(".add-version").textContent = "Add the " + language + " version";
        q(".add-version").addEventListener("click", function () {
          q(".missing").hidden = true;
          side.start({});
          fields.title.focus();
        });
      }
      renderState();
    };

    side.start = function (prefill) { // an empty form for a version not saved yet
      side.setLanguage(side.language);
      side.state = null;
      side.base = null;
      side.saved = empty();
      form.hidden = false;
      fill(Object.assign(empty(), prefill));
      renderState();
    };

    function content(revision) {
      return { title: revision.title, questions: revision.questions.slice(), body: revision.body, tags: revision.tags.slice() };
    }

    // --- saving ---
    function clearErrors() {
      node.querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
      if (options.isNew) $("new-id-error").textContent = "";
      say(q(".side-error"), null);
    }

    function busy(on) {
      form.querySelectorAll(".actions button").forEach(function (b) { b.classList.toggle("working", on); b.disabled = on; });
      if (!on) renderState();
    }

    function save(publish, base) {
      clearErrors();
      var id = options.articleId();
      if (options.isNew && !ID_PATTERN.test(id)) {
        $("new-id-error").textContent = id ? "Only lowercase letters, digits and single hyphens, e.g. roaming-activate" : "Give the article an id first";
        $("new-id").focus();
        return Promise.resolve();
      }
      var sent = values();
      var body = Object.assign({ base: base === undefined ? side.base : base }, sent);
      if (publish) body.publish = true;
      busy(true);
      return api("PUT", articlePath(id, side.language), body).then(function (data) {
        var before = side.base;
        side.state = data.article;
        side.base = data.article.head.number;
        side.saved = content(data.article.head);
        closeConflict();
        q(".saved").textContent = data.version
          ? "Published revision " + data.revision + ": live within seconds"
          : data.revision === before ? "No changes to save" : "Saved as revision " + data.revision + " (draft)";
        if (data.version) watchStatus();
        if (options.onSaved) return options.onSaved();
        if (JSON.stringify(values()) === JSON.stringify(sent)) fill(side.saved); // the server's trimmed text
        else changed(); // typed on while it was saving
        reloadHistory();
      }).catch(function (error) {
        var problems = error.status === 422 && error.data.error.fields;
        if (problems) {
          Object.keys(problems).forEach(function (name) {
            var target = name === "id" && options.isNew ? $("new-id-error") : q('.field-error[data-field="' + name + '"]');
            if (target) target.textContent = capital(problems[name]);
            else say(q(".side-error"), name + ": " + problems[name]);
          });
        } else if (error.status === 409 && options.isNew) {
          $("new-id-error").textContent = "";
          var taken = link(editorPath(id), "open it");
          $("new-id-error").append(document.createTextNode("An article " + id + " in " + side.language + " exists already: "), taken);
        } else if (error.status === 409 && error.data.head) {
          showConflict(error.data.head, publish);
        } else say(q(".side-error"), error);
      }).then(function () { busy(false); });
    }

    function capital(text) { return text.charAt(0).toUpperCase() + text.slice(1) + "."; }

    form.addEventListener("submit", function (event) { event.preventDefault(); save(false); });
    q(".publish").addEventListener("click", function () { save(true); });

    function change(action, question) {
      if (!window.confirm(question)) return;
      clearErrors();
      busy(true);
      api("POST", articlePath(options.articleId(), side.language) + "/" + action).then(function (data) {
        side.state = data.article;
        q(".saved").textContent = action === "archive" ? "Archived: users are no longer answered with it" : "Unpublished: now a draft, users are no longer answered with it";
        watchStatus();
        reloadHistory();
      }).catch(function (error) { say(q(".side-error"), error); }).then(function () { busy(false); });
    }
    q(".unpublish").addEventListener("click", function () { change("unpublish", "Unpublish the " + side.language + " version? Users will no longer be answered with it."); });
    q(".archive").addEventListener("click", function () { change("archive", "Archive the " + side.language + " version? Users will no longer be answered with it."); });

    // --- someone else saved meanwhile ---
    // The curator's text stays in the form; the panel shows theirs beside it, field by field.
    function renderConflict() {
      var panel = q(".conflict");
      var head = side.conflict.head;
      var theirs = content(head);
      var mine = values();
      panel.hidden = false;
      panel.textContent = "";
      panel.append(el("h4", "", "Someone else saved revision " + head.number + " (" + head.author + ", " + when(head.created_at) + ")"),
        el("p", "", "Your text is still in the form and not saved. Compare the two and choose; nothing is lost either way."));
      var table = el("table", "compare");
      var top = el("tr");
      top.append(el("th", "", ""), el("th", "", "Theirs · revision " + head.number), el("th", "", "Yours"));
      var thead = el("thead");
      thead.append(top);
      var tbody = el("tbody");
      [["Title", "title"], ["Questions", "questions"], ["Answer", "body"], ["Tags", "tags"]].forEach(function (pair) {
        var a = theirs[pair[1]], b = mine[pair[1]];
        var same = JSON.stringify(a) === JSON.stringify(b);
        var row = el("tr", same ? "same" : "differs");
        var label = el("th", "", pair[0]);
        label.scope = "row";
        label.append(el("small", "", same ? "same" : "differs"));
        if (same) {
          var both = el("td", "muted", "The same in both" + (Array.isArray(a) ? " (" + plural(a.length, "item", "items") + ")" : ""));
          both.colSpan = 2;
          row.append(label, both);
        } else row.append(label, compareCell(a, b), compareCell(b, a));
        tbody.append(row);
      });
      table.append(thead, tbody);
      var mineButton = button("Keep mine (save over theirs)", "", function () { save(side.conflict.publish, head.number); });
      var theirsButton = button("Take theirs", "secondary", function () {
        var kept = mine;
        side.base = head.number;
        side.saved = theirs;
        side.conflict = null;
        fill(theirs);
        showSetAside(kept, head.number);
        reloadState();
      });
      var choices = el("div", "actions");
      choices.append(mineButton, theirsButton);
      panel.append(table, choices);
    }

    function showConflict(head, publish) {
      side.conflict = { head: head, publish: publish };
      renderConflict();
      q(".conflict").scrollIntoView({ block: "start" });
    }

    // A field's value, its lines (or items) that the other value lacks marked. In a list whose
    // items differ (not just their order), the items both have shrink to a count.
    function compareCell(value, other) {
      var cell = el("td");
      var list = Array.isArray(value);
      var lines = list ? value : value.split("\n");
      var others = other === undefined ? null : list ? other : other.split("\n");
      var box = el(list ? "ul" : "div", list ? "" : "text");
      var only = function (line) { return others !== null && others.indexOf(line) < 0; };
      var shared = lines.filter(function (line) { return !only(line); }).length;
      var reordered = others !== null && list && shared === lines.length && shared === others.length;
      lines.forEach(function (line) {
        if (list && others !== null && !reordered && !only(line)) return;
        box.append(el(list ? "li" : "div", only(line) ? "only" : "", line || " "));
      });
      if (list && others !== null && !reordered && shared) box.append(el("li", "muted shared", "and " + shared + " the same in both"));
      cell.append(box);
      return cell;
    }

    // After "Take theirs", the curator's own text stays on the page until dismissed.
    function showSetAside(kept, number) {
      var panel = q(".conflict");
      panel.textContent = "";
      panel.classList.add("set-aside");
      panel.append(el("h4", "", "Your version, set aside (not saved)"),
        el("p", "", "The form now holds revision " + number + ". Copy what you still need from your text below."));
      var table = el("table", "compare");
      var tbody = el("tbody");
      [["Title", kept.title], ["Questions", kept.questions], ["Answer", kept.body], ["Tags", kept.tags]].forEach(function (pair) {
        var row = el("tr");
        var label = el("th", "", pair[0]);
        label.scope = "row";
        row.append(label, compareCell(pair[1]));
        tbody.append(row);
      });
      table.append(tbody);
      panel.append(table, button("Dismiss", "secondary", closeConflict));
    }

    function closeConflict() {
      side.conflict = null;
      var panel = q(".conflict");
      panel.hidden = true;
      panel.textContent = "";
      panel.classList.remove("set-aside");
    }

    function reloadState() {
      return api("GET", articlePath(options.articleId())).then(function (data) {
        side.state = data.versions[side.language];
        renderState();
      }).catch(function (error) { say(q(".side-error"), error); });
    }

    // --- history: revisions and publications, diffs, restore ---
    var history = q(".history");
    history.addEventListener("toggle", function () { if (history.open) loadHistory(); });
    function reloadHistory() { renderState(); if (history.open) loadHistory(); }

    function loadHistory() {
      var id = options.articleId();
      return api("GET", articlePath(id, side.language) + "/revisions").then(function (data) {
        var timeline = q(".timeline");
        timeline.textContent = "";
        var events = data.revisions.map(function (r) { return { at: r.created_at, revision: r, order: 0 }; })
          .concat(data.publications.map(function (p) { return { at: p.created_at, publication: p, order: 1 }; }));
        // Newest first; a publish made with a save is listed above that save.
        events.sort(function (a, b) { return a.at < b.at ? 1 : a.at > b.at ? -1 : b.order - a.order; });
        var name = "diff-" + side.language;
        events.forEach(function (event) {
          if (event.publication) {
            var p = event.publication;
            var verb = { publish: "Published", unpublish: "Unpublished", archive: "Archived" }[p.action] || p.action;
            timeline.append(el("li", "publication " + p.action,
              verb + (p.revision ? " revision " + p.revision : "") + " · " + p.author + " · " + when(p.created_at)));
            return;
          }
          var r = event.revision;
          var li = el("li", "revision");
          var pick = el("span", "pick");
          ["a", "b"].forEach(function (which) {
            var label = el("label", "", which.toUpperCase());
            var radio = el("input");
            radio.type = "radio";
            radio.name = name + "-" + which;
            radio.value = r.number;
            label.prepend(radio);
            pick.append(label);
          });
          var what = el("span", "what");
          what.append(el("strong", "", "r" + r.number), document.createTextNode(" " + r.action + " · " + r.author + " · " + when(r.created_at)));
          if (side.state && r.number === side.state.live) what.append(el("span", "badge status-published", "live"));
          if (side.state && r.number === side.state.head.number) what.append(el("span", "badge", "newest"));
          var restore = button("Restore", "secondary small", function () { restoreRevision(r.number); });
          restore.setAttribute("aria-label", "Restore revision " + r.number);
          li.append(pick, what, restore);
          timeline.append(li);
        });
        var numbers = data.revisions.map(function (r) { return r.number; });
        check(name + "-a", numbers[Math.min(1, numbers.length - 1)]);
        check(name + "-b", numbers[0]);
        q(".compare-revisions").disabled = numbers.length < 2;
      }).catch(function (error) { say(q(".side-error"), error); });
    }

    function check(name, value) {
      var radio = node.querySelector('input[name="' + name + '"][value="' + value + '"]');
      if (radio) radio.checked = true;
    }
    function picked(which) {
      var radio = node.querySelector('input[name="diff-' + side.language + "-" + which + '"]:checked');
      return radio ? Number(radio.value) : null;
    }

    q(".compare-revisions").addEventListener("click", function () {
      var a = picked("a"), b = picked("b");
      if (a === null || b === null) return;
      api("GET", articlePath(options.articleId(), side.language) + "/diff?from=" + a + "&to=" + b).then(function (data) {
        renderDiff(data);
      }).catch(function (error) { say(q(".side-error"), error); });
    });

    function renderDiff(data) {
      var out = q(".diff");
      out.textContent = "";
      out.append(el("h5", "", "Revision " + data.from.number + " (" + data.from.author + ") → revision " + data.to.number + " (" + data.to.author + ")"));
      var any = false;
      [["Title", "title"], ["Questions", "questions"], ["Answer", "body"], ["Tags", "tags"]].forEach(function (pair) {
        var parts = data.changes[pair[1]];
        if (!parts.some(function (p) { return p[0] !== "same"; })) return;
        any = true;
        out.append(el("h6", "", pair[0]));
        var lines = el("div", "lines");
        contextOnly(parts).forEach(function (p) {
          if (p === null) { lines.append(el("div", "gap", "…")); return; }
          var line = el(p[0] === "added" ? "ins" : p[0] === "removed" ? "del" : "div", p[0], p[1] || " ");
          line.setAttribute("aria-label", p[0] + ": " + p[1]);
          lines.append(line);
        });
        out.append(lines);
      });
      if (!any) out.append(el("p", "empty", "The two revisions have the same content."));
    }

    // Runs of more than two unchanged lines shrink to two lines of context around each change.
    function contextOnly(parts) {
      var near = parts.map(function (p, i) {
        for (var j = Math.max(0, i - 2); j <= Math.min(parts.length - 1, i + 2); j++) if (parts[j][0] !== "same") return true;
        return false;
      });
      var out = [], hidden = [];
      function flush() { out.push.apply(out, hidden.length > 2 ? [null] : hidden); hidden = []; }
      parts.forEach(function (p, i) {
        if (near[i]) { flush(); out.push(p); } else hidden.push(p);
      });
      flush();
      return out;
    }

    function restoreRevision(number) {
      var warning = side.dirty() ? "\n\nYour unsaved changes in this form will be replaced." : "";
      if (!window.confirm("Restore revision " + number + " and publish it?" + warning)) return;
      clearErrors();
      api("POST", articlePath(options.articleId(), side.language) + "/restore", { revision: number }).then(function (data) {
        side.state = data.article;
        side.base = data.article.head.number;
        side.saved = content(data.article.head);
        closeConflict();
        fill(side.saved);
        q(".saved").textContent = "Restored revision " + number + " as revision " + data.revision + " and published it";
        watchStatus();
        reloadHistory();
      }).catch(function (error) { say(q(".side-error"), error); });
    }

    side.setLanguage(language);
    return side;
  }

  // --- the suggestions ----------------------------------------------------------------------
  var SOURCES = {
    reviewer: "a reviewer labelled it", low_confidence: "handed off (low confidence)",
    not_helpful: "rated not helpful", agent_inserted: "an agent answered with an article"
  };

  function suggestionsPage() {
    api("GET", "/api/kb/suggestions").then(function (data) {
      $("loading").hidden = true;
      var list = $("groups");
      data.groups.forEach(function (group) { list.append(groupCard(group)); });
      count();
    }).catch(function (error) {
      $("loading").hidden = true;
      say($("error"), error.code === "search_unavailable"
        ? "The suggestions cannot be grouped right now (the action server groups them): " + error.message + "."
        : error);
    });
  }

  function count() {
    var left = $("groups").children.length;
    $("count").textContent = left ? "(" + left + ")" : "";
    $("empty").hidden = left > 0;
  }

  function done(text, href, linkText) {
    var line = el("p", "confirmation", text);
    if (href) line.append(document.createTextNode(" · "), link(href, linkText));
    $("done").prepend(line);
  }

  function groupCard(group) {
    var card = el("li", "group");
    var ids = group.questions.map(function (q) { return q.message_id; });
    var sources = Object.keys(group.sources).map(function (s) { return group.sources[s] + " " + (SOURCES[s] || s); }).join(" · ");
    var head = el("div", "group-head");
    var other = el("div", "actions");
    head.append(el("strong", "", "Asked by " + plural(group.asked, "user", "users")),
      el("span", "muted", plural(group.questions.length, "question", "questions") + ": " + sources), other);
    card.append(head);

    var examples = el("ul", "examples");
    group.questions.slice(0, 5).forEach(function (q) {
      var li = el("li");
      li.append(el("q", "", q.text), el("span", "badge", q.language), el("span", "badge source-" + q.source, SOURCES[q.source] || q.source),
        el("small", "muted", when(q.asked_at)));
      li.lang = q.language === "zh" ? "zh-CN" : "en";
      examples.append(li);
    });
    if (group.questions.length > 5) examples.append(el("li", "muted", "and " + (group.questions.length - 5) + " more"));
    card.append(examples);

    var add = el("form", "accept");
    var question = el("input", "question");
    question.value = group.examples[0] || "";
    question.setAttribute("aria-label", "Question to add");
    var firstLanguage = group.questions[0].language;
    var picker = articlePicker(group.target, firstLanguage);
    var submit = el("button", "", "Add and publish");
    submit.type = "submit";
    var error = el("p", "error");
    error.setAttribute("role", "alert");
    var line = el("div", "question-line");
    line.append(question, submit);
    add.append(el("span", "label", "Add as alternate question to"), picker.node, el("span", "label", "Question to add"), line);
    card.append(add);

    other.append(button("Start a new article", "secondary", function () {
      decide("/api/kb/suggestions/new-article", function () {
        location.href = "/curation/new?" + new URLSearchParams({ question: question.value.trim() || group.examples[0], language: firstLanguage });
      });
    }), button("Dismiss", "secondary", function () {
      decide("/api/kb/suggestions/dismiss", function (data) {
        done("Dismissed " + plural(data.decided, "question", "questions") + ": “" + group.examples[0] + "”");
      });
    }));
    card.append(error);

    function finish() { card.remove(); count(); }
    function decide(path, then) {
      say(error, null);
      card.classList.add("busy");
      api("POST", path, { message_ids: ids }).then(function (data) { finish(); then(data); })
        .catch(function (e) { say(error, e); card.classList.remove("busy"); });
    }

    add.addEventListener("submit", function (event) {
      event.preventDefault();
      var target = picker.value();
      var text = question.value.trim();
      if (!target) { say(error, "Pick the article to add the question to."); return; }
      if (!text) { say(error, "Write the question to add."); question.focus(); return; }
      say(error, null);
      card.classList.add("busy");
      api("POST", "/api/kb/suggestions/accept", { message_ids: ids, article_id: target.article_id, language: target.language, question: text })
        .then(function (data) {
          finish();
          var where = target.article_id + " (" + data.article.language + ")";
          done(data.published ? "Added to " + where + " and published" : "Added to the draft of " + where + " (the article is not published)",
            editorPath(target.article_id), "open the article");
          watchStatus();
        })
        .catch(function (e) { say(error, e); card.classList.remove("busy"); });
    });
    return card;
  }

  // Choose an article (one id in one language): the suggested one, or any other found by search.
  function articlePicker(initial, language) {
    var node = el("div", "picker");
    var chosen = el("div", "chosen");
    var warning = el("p", "warning");
    var search = el("input");
    search.type = "search";
    search.placeholder = "Find another article…";
    search.setAttribute("aria-label", "Find another article");
    var lang = el("select");
    lang.setAttribute("aria-label", "Language of the article");
    ["zh", "en"].forEach(function (l) { lang.append(el("option", "", l)); });
    lang.value = initial ? initial.language : language;
    var results = el("ul", "picker-results");
    var finder = el("div", "finder");
    finder.append(search, lang);
    node.append(chosen, finder, warning, results);
    var value = null;

    function choose(target, summary) {
      value = target;
      chosen.textContent = "";
      if (!target) { chosen.append(el("span", "muted", "No article chosen: search for one")); return; }
      chosen.append(el("strong", "", target.article_id), el("span", "badge", target.language), document.createTextNode(" " + (target.title || "")));
      if (initial && target.article_id === initial.article_id && target.language === initial.language) {
        var whyText = { agent_inserted: " (an agent answered with it)", reviewer: " (a reviewer said it should answer)" };
        chosen.append(el("small", "muted", whyText[initial.why] || " (best match)"));
      }
      warning.textContent = summary && summary.status !== "published" ? "This version is " + summary.status + ": the question goes into its draft, and nothing is published."
        : summary && summary.has_unpublished_changes ? "This version has unpublished changes: the question is published into the live version and added to the draft, which stays unpublished." : "";
    }

    var seq = 0, timer = null;
    function find() {
      var text = search.value.trim();
      var mine = ++seq;
      results.textContent = "";
      if (!text) return;
      api("GET", "/api/kb/articles?" + new URLSearchParams({ q: text, language: lang.value })).then(function (data) {
        if (mine !== seq) return;
        data.articles.slice(0, 8).forEach(function (a) {
          var li = el("li");
          var pick = button("", "pick-article", function () {
            choose({ article_id: a.id, language: a.language, title: a.title }, a);
            results.textContent = "";
            search.value = "";
          });
          pick.append(el("strong", "", a.id), document.createTextNode(" " + a.title + " "), el("span", "badge status-" + a.status, a.status));
          li.append(pick);
          results.append(li);
        });
        if (!data.articles.length) results.append(el("li", "muted", "No article matches."));
      }).catch(function (error) { results.append(el("li", "error", error.message)); });
    }
    search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(find, 250); });
    search.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); find(); } });
    lang.addEventListener("change", find);

    choose(initial);
    if (initial) { // its title and status, for the warning
      api("GET", articlePath(initial.article_id)).then(function (data) {
        var state = data.versions[initial.language];
        if (state && value === initial) {
          choose(Object.assign({}, initial, { title: state.head.title }), { status: state.status, has_unpublished_changes: state.has_unpublished_changes });
        }
      }).catch(function () { /* the name shown is enough */ });
    }
    return { node: node, value: function () { return value; } };
  }

  watchStatus();
  if (view === "articles") articlesPage();
  else if (view === "editor" || view === "new") editorPage();
  else suggestionsPage();
})();
