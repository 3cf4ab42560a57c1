/*
 * Touchpoint's Markdown: the few marks an article's answer may use, rendered exactly as the chat
 * widget shows them. Served in front of widget.js (/widget.js), and loaded by the curation
 * editor, whose preview must look like the answer users will read.
 *
 * window.TouchpointMarkdown.articleBody(text) returns a <div class="body">.
 */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Article text: **bold**, `code`, [label](https://…), "- " lists, pipe tables and backslash
  // escapes (\* shows a plain *, and opens no span); the rest is plain text. Every node is made
  // here and text goes in as text: nothing an author or a user wrote is parsed as HTML.
  var ESCAPE = /\\([!-\/:-@\[-`{-~])/g; // any ASCII punctuation, as CommonMark has it
  function unescape(text) { return text.replace(ESCAPE, "$1"); }

  function inline(parent, text) {
    // An escape, then spans whose text may hold escapes; a code span keeps its backslashes.
    var pattern = /\\([!-\/:-@\[-`{-~])|\*\*((?:\\[^\n]|[^*\\\n])+?)\*\*|`([^`\n]+)`|\[((?:\\[^\n]|[^\]\\\n])+)\]\((https?:\/\/[^)\s]+)\)/g;
    var last = 0, m;
    while ((m = pattern.exec(text))) {
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] !== undefined) parent.appendChild(document.createTextNode(m[1]));
      else if (m[2] !== undefined) parent.appendChild(el("strong", {}, unescape(m[2])));
      else if (m[3] !== undefined) parent.appendChild(el("code", {}, m[3]));
      else parent.appendChild(el("a", { href: m[5], target: "_blank", rel: "noopener noreferrer" }, unescape(m[4])));
      last = pattern.lastIndex;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // GitHub's pipe tables: a header row, a delimiter row (|---|:--:|) with as many cells, then
  // body rows up to a blank line or a line without a pipe. An escaped \| is a pipe in its cell.
  var DELIMITER_ROW = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
  function hasPipe(line) { return /(^|[^\\])\|/.test(line); }
  function cells(row) {
    row = row.trim();
    if (row.charAt(0) === "|") row = row.slice(1);
    if (/(^|[^\\])\|$/.test(row)) row = row.slice(0, -1);
    var out = [], cell = "";
    for (var i = 0; i < row.length; i++) {
      var c = row.charAt(i);
      if (c === "\\" && row.charAt(i + 1) === "|") { cell += "|"; i++; }
      else if (c === "|") { out.push(cell.trim()); cell = ""; }
      else cell += c;
    }
    out.push(cell.trim());
    return out;
  }
  function startsTable(header, delimiter) {
    return hasPipe(header) && delimiter.indexOf("|") >= 0 && DELIMITER_ROW.test(delimiter) &&
      cells(header).length === cells(delimiter).length;
  }
  function alignment(delimiterCell) {
    var left = delimiterCell.charAt(0) === ":", right = delimiterCell.slice(-1) === ":";
    return left && right ? "center" : right ? "right" : "";
  }

  function table(header, aligns, rows) {
    var wrap = el("div", { class: "table" }); // scrolls sideways when a table is wider than the panel
    var node = el("table"), head = el("thead"), body = el("tbody"), tr = el("tr");
    function cell(tag, text, column) {
      var c = el(tag, tag === "th" ? { scope: "col" } : {});
      if (aligns[column]) c.style.textAlign = aligns[column];
      inline(c, text);
      return c;
    }
    header.forEach(function (text, column) { tr.appendChild(cell("th", text, column)); });
    head.appendChild(tr);
    rows.forEach(function (row) {
      var line = el("tr");
      header.forEach(function (_, column) { line.appendChild(cell("td", row[column] || "", column)); });
      body.appendChild(line);
    });
    node.append(head, body);
    wrap.appendChild(node);
    return wrap;
  }

  function articleBody(text) {
    var body = el("div", { class: "body" });
    var list = null;
    var lines = text.split("\n");
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (i + 1 < lines.length && startsTable(line, lines[i + 1])) {
        var rows = [], next = i + 2;
        while (next < lines.length && lines[next].trim() && hasPipe(lines[next])) rows.push(cells(lines[next++]));
        body.appendChild(table(cells(line), cells(lines[i + 1]).map(alignment), rows));
        list = null;
        i = next - 1;
        continue;
      }
      var item = /^\s*[-*] (.*)$/.exec(line);
      if (item) {
        if (!list) { list = el("ul"); body.appendChild(list); }
        var li = el("li");
        inline(li, item[1]);
        list.appendChild(li);
        continue;
      }
      list = null;
      inline(body, line + (i < lines.length - 1 ? "\n" : ""));
    }
    return body;
  }

  window.TouchpointMarkdown = { articleBody: articleBody };
})();
