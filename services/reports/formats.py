"""Text that leaves kretslopp in a report file, made safe for where it is opened.

Report cells carry producers' words (manufacturer, model, counterparty, tenant ids), and a
hostile or careless producer decides what those are:
- CSV: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
  formula in Excel and LibreOffice ("CSV injection", OWASP). Such a text cell is prefixed with
  ``'``, which spreadsheets show as text; numbers are written by us and left alone.
- Markdown: ``|`` would end a table cell and ``<img onerror=...>`` would be live HTML where the
  Markdown is rendered. Markdown's punctuation is backslash-escaped and ``<``, ``>``, ``&``
  become entities, so the cell shows exactly the producer's text.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def markdown_cell(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", escaped)
    return escaped.replace("\n", " ").replace("\r", " ")
