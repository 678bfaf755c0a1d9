"""User text made literal inside Markdown: shared by the suites' own tables (``ood_table.md``,
``robustness.md``) and the reports, so a model or folder name can never inject links, HTML or table breaks."""

from __future__ import annotations

import re

_MD_SPECIAL = "\\`*|"
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_escape(text: str) -> str:
    """User text (model names, folder names, messages) as literal Markdown: no raw HTML, links, images,
    emphasis, code spans or table breaks survive, and line breaks become spaces so a table row stays one row.
    (A bracket only starts a link or image when ``](`` follows it, so brackets themselves stay readable.)"""
    out = []
    for ch in " ".join(str(text).splitlines()):
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_SPECIAL or (ch == "(" and out and out[-1] == "]"):
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def md_code(text: str) -> str:
    """User text (a path) shown as inline code: the fence is longer than any run of backticks inside."""
    text = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
