/*
 * The analytics page (templates/analytics.html; the API is bot/analytics.py): the figures drawn as
 * small SVG charts, written here (bars, stacked bars, a line per channel, a weekday × hour grid),
 * each with its numbers in a table and its data as CSV. The filters live in the address, so a
 * reload or a shared link shows the same range. Every text is set with textContent, never as HTML.
 */
(function () {
  "use strict";
  var el = window.Staff.el, api = window.Staff.api;
  var SVG = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var COLORS = {
    telegram: "#229ed9", widget: "#1f6feb", api: "#d97706", cli: "#6b7280", en: "#1f6feb", zh: "#c2410c",
    user: "#1f6feb", bot: "#8ab4f8", agent: "#16a34a", system: "#a1a1aa",
    confirmed: "#15803d", assumed: "#4ade80", pending: "#fbbf24", rest: "#d0d7de",
    p50: "#1f6feb", p90: "#8ab4f8", bar: "#1f6feb", bad: "#c2410c"
  };
  var NAMES = {
    user: "users", bot: "assistant", agent: "agents", system: "system",
    confirmed: "confirmed (rated helpful)", assumed: "assumed (no complaint, not back in 24 h)",
    pending: "pending (less than 24 h old)", rest: "not resolved by the assistant",
    low_confidence: "low confidence", user_request: "user asked", repeated_not_helpful: "answers not helpful",
    service_error: "service error", queue_wait: "Queue wait", first_response: "First response",
    resolution: "Time to resolution", after_greeting: "after the greeting", after_first_answer: "after the first answer",
    after_answers: "after two or more answers", waiting_for_person: "waiting for a person",
    with_person: "with a person (agent or ticket)", ongoing: "still going"
  };
  var form = $("filters");
  var seq = 0;

  // --- formatting --------------------------------------------------------------------------
  function name(key) { return NAMES[key] || key; }
  function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 2 * 3600) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }
  function short(period, by) { return (by === "week" ? "wk " : "") + period.slice(5); }
  function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

  // --- drawing -----------------------------------------------------------------------------
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function titled(node, text) { node.append(svg("title", {}, text)); return node; }

  /* Drawn at the width it is shown at, so that its text is the page's size. */
  function widthOf(plot) { return Math.max(420, Math.floor(plot.getBoundingClientRect().width) || 760); }

  function canvas(width, height, label) {
    return svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": label, preserveAspectRatio: "xMinYMin meet" });
  }

  function legend(keys) {
    var list = el("ul", "legend");
    keys.forEach(function (key) {
      var item = el("li", "", name(key));
      item.style.setProperty("--swatch", COLORS[key] || COLORS.bar);
      list.append(item);
    });
    return list;
  }

  /* A whole step (1, 2 or 5 times a power of ten) that cuts 0..value in at most four. */
  function step(value) {
    var rough = Math.max(value, 1) / 4;
    var power = Math.pow(10, Math.floor(Math.log10(rough)));
    var whole = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (v) { return v >= rough; });
    return Math.max(1, whole);
  }
  function niceMax(value) { var s = step(value); return s * Math.max(1, Math.ceil(value / s)); }

  /* The frame of a chart over time: the y grid with its values and the x labels, thinned out. */
  function frame(chart, periods, by, max, box) {
    for (var tick = 0; tick <= max; tick += step(max)) {
      var y = box.top + box.height - (box.height * tick) / max;
      chart.append(svg("line", { x1: box.left, x2: box.left + box.width, y1: y, y2: y, class: tick ? "grid" : "axis" }));
      chart.append(svg("text", { x: box.left - 6, y: y + 4, "text-anchor": "end" }, num(tick)));
    }
    var every = Math.ceil(periods.length / Math.max(4, Math.floor(box.width / 64)));
    periods.forEach(function (period, i) {
      if (i % every) return;
      chart.append(svg("text", { x: box.x(i), y: box.top + box.height + 16, "text-anchor": "middle" }, short(period, by)));
    });
  }

  function overTime(periods, width) {
    var box = { left: 44, top: 8, width: width - 56, height: 170 };
    var slot = box.width / Math.max(periods.length, 1);
    box.slot = slot;
    box.x = function (i) { return box.left + slot * (i + 0.5); };
    return box;
  }

  /* A line per series (periods along x). */
  function lines(plot, periods, by, series, label) {
    var width = widthOf(plot), box = overTime(periods, width);
    var max = niceMax(Math.max.apply(null, series.map(function (s) { return Math.max.apply(null, s.values.concat([0])); })));
    var chart = canvas(width, 208, label);
    frame(chart, periods, by, max, box);
    series.forEach(function (s) {
      var points = s.values.map(function (v, i) { return box.x(i) + "," + (box.top + box.height - (box.height * v) / max); });
      chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: COLORS[s.key], "stroke-width": 2, "data-series": s.key }));
      s.values.forEach(function (v, i) {
        var dot = svg("circle", { cx: box.x(i), cy: box.top + box.height - (box.height * v) / max, r: periods.length > 40 ? 1.5 : 3, fill: COLORS[s.key] });
        chart.append(titled(dot, periods[i] + " · " + name(s.key) + ": " + num(v)));
      });
    });
    plot.append(legend(series.map(function (s) { return s.key; })), chart);
  }

  /* Bars stacked per period. */
  function stacked(plot, periods, by, series, label) {
    var width = widthOf(plot), box = overTime(periods, width);
    var totals = periods.map(function (_, i) { return series.reduce(function (sum, s) { return sum + s.values[i]; }, 0); });
    var max = niceMax(Math.max.apply(null, totals.concat([0])));
    var chart = canvas(width, 208, label);
    frame(chart, periods, by, max, box);
    var thickness = Math.max(2, Math.min(42, box.slot * 0.7));
    periods.forEach(function (period, i) {
      var base = box.top + box.height;
      series.forEach(function (s) {
        var height = (box.height * s.values[i]) / max;
        if (!height) return;
        base -= height;
        var bar = svg("rect", { x: box.x(i) - thickness / 2, y: base, width: thickness, height: height, fill: COLORS[s.key], "data-series": s.key });
        chart.append(titled(bar, period + " · " + name(s.key) + ": " + num(s.values[i])));
      });
    });
    plot.append(legend(series.map(function (s) { return s.key; })), chart);
  }

  /* Horizontal bars, one a row: [{label, value, text, color}]; `max` fixes the scale (1 for shares). */
  function bars(plot, rows, label, max) {
    if (!rows.length) { plot.append(el("p", "nothing", "Nothing in this range.")); return; }
    var width = widthOf(plot), labelWidth = Math.min(220, Math.round(width * 0.3)), row = 24;
    var scale = max || Math.max.apply(null, rows.map(function (r) { return r.value || 0; })) || 1;
    var chart = canvas(width, rows.length * row + 6, label);
    var room = width - labelWidth - 190; // the value is written after the bar
    rows.forEach(function (r, i) {
      var y = i * row + 4;
      chart.append(titled(svg("text", { x: labelWidth - 8, y: y + 14, "text-anchor": "end" }, clip(r.label, Math.floor(labelWidth / 7))), r.label));
      var length = Math.max(r.value ? 2 : 0, (room * (r.value || 0)) / scale);
      var bar = svg("rect", { x: labelWidth, y: y + 2, width: length, height: row - 8, rx: 2, fill: r.color || COLORS.bar });
      chart.append(titled(bar, r.label + ": " + r.text));
      chart.append(svg("text", { x: labelWidth + length + 6, y: y + 14, class: "value" }, r.text));
    });
    plot.append(chart);
  }

  /* Weekday × hour: the darker, the more users wrote then. */
  function heat(plot, hours) {
    var cell = 28, left = 40, top = 18;
    var chart = canvas(left + 24 * cell + 4, top + 7 * cell + 4, "User messages by weekday and hour, UTC");
    var max = Math.max.apply(null, hours.grid.map(function (row) { return Math.max.apply(null, row); }).concat([1]));
    for (var hour = 0; hour < 24; hour += 3) {
      chart.append(svg("text", { x: left + hour * cell + cell / 2, y: 12, "text-anchor": "middle" }, String(hour).padStart(2, "0")));
    }
    hours.grid.forEach(function (row, day) {
      chart.append(svg("text", { x: left - 6, y: top + day * cell + cell / 2 + 4, "text-anchor": "end" }, hours.weekdays[day]));
      row.forEach(function (count, hour) {
        var share = count / max;
        var rect = svg("rect", {
          x: left + hour * cell + 1, y: top + day * cell + 1, width: cell - 2, height: cell - 2, rx: 3,
          fill: count ? "rgba(31, 111, 235, " + (0.12 + 0.88 * share).toFixed(3) + ")" : "#f3f4f6"
        });
        chart.append(titled(rect, hours.weekdays[day] + " " + String(hour).padStart(2, "0") + ":00–:59 · " + num(count)));
        if (count) {
          chart.append(svg("text", {
            x: left + hour * cell + cell / 2, y: top + day * cell + cell / 2 + 4, "text-anchor": "middle",
            class: share > 0.55 ? "inside" : "value"
          }, num(count)));
        }
      });
    });
    plot.append(chart);
  }

  // --- tables ------------------------------------------------------------------------------
  /* columns: [[title, numeric?]]; rows: arrays of text. Long tables fold away. */
  function table(columns, rows, fold) {
    var node = el("table", "grid");
    var head = el("tr");
    columns.forEach(function (c) { var th = el("th", c[1] ? "num" : "", c[0]); th.scope = "col"; head.append(th); });
    node.append(el("thead"), el("tbody"));
    node.tHead.append(head);
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (value, i) { tr.append(el("td", columns[i][1] ? "num" : "", value)); });
      node.tBodies[0].append(tr);
    });
    if (!fold) return node;
    var details = el("details");
    details.append(el("summary", "", "The numbers (" + rows.length + " rows)"), node);
    return details;
  }

  // --- the sections ------------------------------------------------------------------------
  function section(chart) {
    var node = $("chart-" + chart);
    var plot = node.querySelector(".plot"), numbers = node.querySelector(".numbers");
    plot.textContent = "";
    numbers.textContent = "";
    return { plot: plot, numbers: numbers };
  }

  function present(rows, keys) {
    return keys.filter(function (key) { return rows.some(function (r) { return r[key]; }); });
  }

  function kpis(data) {
    var list = $("kpis");
    list.textContent = "";
    var desk = data.desk, containment = data.containment;
    [
      [num(data.totals.sessions), "sessions (" + num(data.totals.conversations) + " conversations)"],
      [pct(containment.contained_share), "resolved by the assistant (" + num(containment.contained) + ")"],
      [pct(data.handoffs.rate), "handed to a person (" + num(data.handoffs.sessions) + ")"],
      [pct(data.answers.helpful_rate), "answers rated helpful (" + num(data.answers.helpful) + " of " + num(data.answers.helpful + data.answers.not_helpful) + ")"],
      [duration(desk.queue_wait.p50), "median queue wait (p90 " + duration(desk.queue_wait.p90) + ")"],
      [pct(desk.agent_ratings.helpful_share), "agents rated helpful (" + num(desk.agent_ratings.helpful) + " of " + num(desk.agent_ratings.helpful + desk.agent_ratings.not_helpful) + ")"]
    ].forEach(function (kpi) {
      var item = el("li");
      item.append(el("span", "value", kpi[0]), el("span", "label", kpi[1]));
      list.append(item);
    });
  }

  function drawSessions(data, by) {
    var s = section("sessions");
    var channels = Object.keys(data.sessions[0] ? data.sessions[0].channels : {});
    var shown = channels.filter(function (c) { return data.sessions.some(function (r) { return r.channels[c]; }); });
    var series = (shown.length ? shown : channels).map(function (c) {
      return { key: c, values: data.sessions.map(function (r) { return r.channels[c]; }) };
    });
    lines(s.plot, data.periods, by, series, "Sessions per " + by + " by channel");
    var languages = Object.keys(data.sessions[0] ? data.sessions[0].languages : {});
    s.numbers.append(table(
      [[by === "week" ? "Week of" : "Day"], ["Sessions", true]].concat(channels.map(function (c) { return [c, true]; }), languages.map(function (x) { return [x, true]; })),
      data.sessions.map(function (r) {
        return [r.period, num(r.sessions)].concat(channels.map(function (c) { return num(r.channels[c]); }), languages.map(function (x) { return num(r.languages[x]); }));
      }),
      data.sessions.length > 8
    ));
  }

  function drawMessages(data, by) {
    var s = section("messages");
    var roles = present(data.messages, ["user", "bot", "agent", "system"]);
    stacked(s.plot, data.periods, by, roles.map(function (role) {
      return { key: role, values: data.messages.map(function (r) { return r[role]; }) };
    }), "Messages per " + by + " by who sent them");
    s.numbers.append(table(
      [[by === "week" ? "Week of" : "Day"], ["Users", true], ["Assistant", true], ["Agents", true], ["System", true]],
      data.messages.map(function (r) { return [r.period, num(r.user), num(r.bot), num(r.agent), num(r.system)]; }),
      data.messages.length > 8
    ));
  }

  function drawHours(data) {
    var s = section("hours");
    heat(s.plot, data.hours);
    var columns = [["Weekday"]].concat(data.hours.by_hour.map(function (_, h) { return [String(h).padStart(2, "0"), true]; }), [["All", true]]);
    var rows = data.hours.grid.map(function (row, day) {
      return [data.hours.weekdays[day]].concat(row.map(num), [num(data.hours.by_weekday[day])]);
    });
    rows.push(["All"].concat(data.hours.by_hour.map(num), [num(data.totals.messages.user)]));
    s.numbers.append(table(columns, rows, true));
  }

  function drawContainment(data, by) {
    var s = section("containment");
    var c = data.containment;
    stacked(s.plot, data.periods, by, ["confirmed", "assumed", "pending", "rest"].map(function (key) {
      return { key: key, values: c.series.map(function (r) { return r[key]; }) };
    }), "Sessions per " + by + ", resolved by the assistant or not");
    s.numbers.append(table(
      [["Sessions"], ["Count", true], ["Share of all", true]],
      [
        ["All sessions", num(c.sessions), "100%"],
        ["Answered with an article", num(c.answered), pct(c.sessions ? c.answered / c.sessions : null)],
        ["Confirmed", num(c.confirmed), pct(c.sessions ? c.confirmed / c.sessions : null)],
        ["Assumed", num(c.assumed), pct(c.sessions ? c.assumed / c.sessions : null)],
        ["Resolved (confirmed + assumed)", num(c.contained), pct(c.contained_share)],
        ["Pending (under 24 h)", num(c.pending), pct(c.sessions ? c.pending / c.sessions : null)],
        ["The rest", num(c.rest), pct(c.sessions ? c.rest / c.sessions : null)]
      ]
    ));
  }

  function drawHandoffs(data) {
    var s = section("handoffs");
    var h = data.handoffs;
    var rows = h.reasons.map(function (r) {
      return { label: name(r.reason), value: r.rate || 0, text: pct(r.rate) + " (" + num(r.sessions) + ")", color: COLORS.bad };
    });
    rows.push({ label: "any reason", value: h.rate || 0, text: pct(h.rate) + " (" + num(h.sessions) + ")", color: COLORS.bad });
    rows.push({ label: "left a message (ticket)", value: h.tickets.rate || 0, text: pct(h.tickets.rate) + " (" + num(h.tickets.sessions) + ")", color: COLORS.api });
    bars(s.plot, rows, "Share of sessions handed off, by reason");
    s.numbers.append(table(
      [["Reason"], ["Sessions", true], ["Of all sessions", true]],
      h.reasons.map(function (r) { return [name(r.reason), num(r.sessions), pct(r.rate)]; }).concat([
        ["Any reason", num(h.sessions), pct(h.rate)],
        ["Left a message (ticket)", num(h.tickets.sessions), pct(h.tickets.rate)]
      ])
    ));
  }

  function drawDesk(data) {
    var s = section("desk");
    var d = data.desk;
    var rows = [];
    ["queue_wait", "first_response", "resolution"].forEach(function (key) {
      rows.push({ label: name(key) + " p50", value: d[key].p50 || 0, text: duration(d[key].p50), color: COLORS.p50 });
      rows.push({ label: name(key) + " p90", value: d[key].p90 || 0, text: duration(d[key].p90), color: COLORS.p90 });
    });
    bars(s.plot, rows, "The desk's times: median and 90th percentile");
    var ratings = d.agent_ratings;
    s.numbers.append(table(
      [["Measure"], ["Handoffs", true], ["p50", true], ["p90", true]],
      ["queue_wait", "first_response", "resolution"].map(function (key) {
        return [name(key), num(d[key].count), duration(d[key].p50), duration(d[key].p90)];
      })
    ), el("p", "help", "Agents rated helpful: " + num(ratings.helpful) + " of " + num(ratings.helpful + ratings.not_helpful) +
      " ratings (" + pct(ratings.helpful_share) + ")."));
  }

  function articleRows(list) {
    return list.map(function (a) {
      return [a.article_id, a.title || "", num(a.answers), num(a.helpful), num(a.not_helpful), pct(a.helpful_rate)];
    });
  }
  var ARTICLE_COLUMNS = [["Article"], ["Title"], ["Answers", true], ["Helpful", true], ["Not helpful", true], ["Helpful rate", true]];

  function drawArticles(data) {
    var s = section("articles");
    var a = data.answers;
    bars(s.plot, a.top.map(function (row) {
      var rated = row.helpful_rate === null ? "not rated" : pct(row.helpful_rate) + " helpful";
      return { label: row.title || row.article_id, value: row.answers, text: num(row.answers) + (row.answers === 1 ? " answer · " : " answers · ") + rated };
    }), "The most answered articles");
    var total = el("p", "help", "All answers: " + num(a.answers) + ". Rated helpful: " + num(a.helpful) + " of " + num(a.helpful + a.not_helpful) + " (" + pct(a.helpful_rate) + ").");
    s.numbers.append(total, table(ARTICLE_COLUMNS, articleRows(a.top)));

    var w = section("worst_articles");
    bars(w.plot, a.worst.map(function (row) {
      return { label: row.title || row.article_id, value: row.helpful_rate || 0, text: pct(row.helpful_rate) + " of " + num(row.helpful + row.not_helpful), color: COLORS.bad };
    }), "The worst-rated articles", 1);
    w.numbers.append(table(ARTICLE_COLUMNS, articleRows(a.worst)));
  }

  function drawExits(data) {
    var s = section("exits");
    bars(s.plot, data.exits.filter(function (e) { return e.exit !== "ongoing" || e.sessions; }).map(function (e) {
      return { label: name(e.exit), value: e.sessions, text: num(e.sessions) + " (" + pct(e.share) + ")" };
    }), "Where users leave: the last thing in their session");
    s.numbers.append(table([["The session ended"], ["Sessions", true], ["Share", true]], data.exits.map(function (e) {
      return [name(e.exit), num(e.sessions), pct(e.share)];
    })));
  }

  function drawUnanswered(data) {
    var s = section("unanswered");
    var u = data.unanswered;
    if (u.grouped_by === "text") {
      s.plot.append(el("p", "warning", "The action server is not answering: questions are grouped by identical text, not by meaning."));
    }
    var groups = u.groups.length + u.more_groups;
    s.plot.append(el("p", "help", num(u.questions) + (u.questions === 1 ? " question in " : " questions in ") + num(groups) + (groups === 1 ? " group" : " groups") +
      (u.more_groups ? "; the " + u.groups.length + " largest are shown." : ".")));
    bars(s.plot, u.groups.map(function (g) {
      return { label: g.examples[0] || "", value: g.count, text: num(g.count), color: COLORS.bad };
    }), "What users asked that nothing answered, by group");
    var list = el("ol", "groups-list");
    u.groups.forEach(function (g) {
      var item = el("li");
      var languages = Object.keys(g.languages).map(function (x) { return x + " " + g.languages[x]; }).join(", ");
      item.append(el("strong", "", num(g.count) + (g.count === 1 ? " question" : " questions")), el("span", "help", " · " + languages));
      var examples = el("ul", "examples");
      g.examples.forEach(function (text) { var li = el("li"); li.append(el("q", "", text)); examples.append(li); });
      item.append(examples);
      list.append(item);
    });
    s.numbers.append(list);
  }

  function drawBreakdown(data) {
    var s = section("breakdown");
    var rows = data.breakdown.channels.map(function (r) { return ["channel", r.channel, r]; })
      .concat(data.breakdown.languages.map(function (r) { return ["language", r.language, r]; }));
    bars(s.plot, rows.map(function (r) {
      return { label: r[1], value: r[2].sessions, text: num(r[2].sessions) + " sessions · " + pct(r[2].contained_share) + " resolved", color: COLORS[r[1]] };
    }), "Sessions and the share resolved, by channel and by language");
    s.numbers.append(table(
      [[""], [""], ["Sessions", true], ["Answered", true], ["Resolved", true], ["Resolved share", true], ["Handoffs", true], ["Handoff rate", true], ["Helpful", true], ["Not helpful", true], ["Helpful rate", true]],
      rows.map(function (r) {
        var x = r[2];
        return [r[0], r[1], num(x.sessions), num(x.answered), num(x.contained), pct(x.contained_share), num(x.handoffs),
          pct(x.handoff_rate), num(x.helpful), num(x.not_helpful), pct(x.helpful_rate)];
      })
    ));
  }

  // --- loading -----------------------------------------------------------------------------
  function query() {
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && field.value) params.set(field.name, field.value);
    });
    if (params.get("by") === "day") params.delete("by");
    return params.toString();
  }

  function load() {
    var q = query();
    history.replaceState(null, "", "/analytics" + (q ? "?" + q : ""));
    document.querySelectorAll("a.csv").forEach(function (link) {
      link.href = "/api/analytics/" + link.dataset.chart + ".csv" + (q ? "?" + q : "");
    });
    var mine = ++seq;
    document.body.classList.add("busy");
    $("loading").hidden = false;
    api("GET", "/api/analytics" + (q ? "?" + q : "")).then(function (data) {
      if (mine !== seq) return; // a newer filter is on its way
      $("error").textContent = "";
      var range = data.range;
      form.elements.since.value = range.since;
      form.elements.until.value = range.until;
      $("range-label").textContent = range.since + " to " + range.until + " · by " + range.by +
        (range.channel ? " · " + range.channel : "") + (range.language ? " · " + range.language : "");
      kpis(data);
      drawSessions(data, range.by);
      drawMessages(data, range.by);
      drawHours(data);
      drawContainment(data, range.by);
      drawHandoffs(data);
      drawDesk(data);
      drawArticles(data);
      drawExits(data);
      drawUnanswered(data);
      drawBreakdown(data);
      document.body.dataset.loaded = q; // what the page shows (the browser tests wait on it)
    }).catch(function (error) {
      if (mine === seq) $("error").textContent = error.message;
    }).then(function () {
      if (mine !== seq) return;
      document.body.classList.remove("busy");
      $("loading").hidden = true;
    });
  }

  var params = new URLSearchParams(location.search);
  Array.prototype.forEach.call(form.elements, function (field) {
    if (field.name && params.has(field.name)) field.value = params.get(field.name);
  });
  form.addEventListener("change", load);
  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();
