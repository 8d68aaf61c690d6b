"""nianbao's own pages (the index, agency pages, the audit's findings): one self-contained
page shell, and the one script they may run — sort a table by a click on a header, filter its
rows by text and by status. A page admits that script, and nothing else, by its hash in its
Content-Security-Policy; it loads no file, font or style from anywhere.

The table's cells carry the sort key in ``data-key`` (``data-type="number"`` on a header sorts
numerically); rows carry ``data-status``; the page has an ``#filter`` input and a ``#status``
select.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

_SCRIPT = """
(function () {
  var table = document.getElementById('__TABLE_ID__');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = table.tHead.rows[0].cells;
  var order = {};
  Array.prototype.forEach.call(heads, function (th, i) {
    th.addEventListener('click', function () {
      var down = order[i] = !order[i];
      var numeric = th.getAttribute('data-type') === 'number';
      rows.sort(function (a, b) {
        var x = a.cells[i].getAttribute('data-key'), y = b.cells[i].getAttribute('data-key');
        var c = numeric ? (Number(x) - Number(y)) : x.localeCompare(y, 'zh');
        return down ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', down ? 'ascending' : 'descending');
    });
  });
  var text = document.getElementById('filter');
  var status = document.getElementById('status');
  function apply() {
    var q = text.value.trim().toLowerCase(), s = status.value;
    rows.forEach(function (r) {
      var show = (!s || r.getAttribute('data-status') === s) &&
                 (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.hidden = !show;
    });
  }
  text.addEventListener('input', apply);
  status.addEventListener('change', apply);
})();
"""


def sortable_script(table_id: str) -> str:
    """The script for the table with this id."""
    return _SCRIPT.replace("__TABLE_ID__", table_id)


def script_hash(script: str) -> str:
    """What a Content-Security-Policy's ``script-src 'sha256-…'`` names to admit ``script``."""
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def page(title: str, style: str, body: str, script: str | None = None) -> str:
    """A self-contained page: ``title`` escaped, ``style`` and ``body`` as given (already
    escaped HTML), ``script`` run at the end and admitted by its hash."""
    admitted = f"; script-src 'sha256-{script_hash(script)}'" if script else ""
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
        + admitted
    )
    tail = f"<script>{script}</script>\n" if script else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{style}</style>
</head>
<body>
{body}
{tail}</body>
</html>
"""
