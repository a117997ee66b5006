"""The report's Markdown as one self-contained HTML page (tables, code, links, inlined plots).

Why: the report must open from a file or the dashboard without a CDN or a Markdown library,
and it must read as a page, not as Markdown source (issue 20: literal backticks in the HTML).
Only the subset the report writes is understood: headings, pipe tables, fenced code, images of
``plots/``, paragraphs with inline code and links.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

__all__ = ["inline", "markdown_to_html"]

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_SAFE_HREF = re.compile(r"[A-Za-z0-9_./#-]+")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;"
    "padding:1em}code{background:#f3f3f3;padding:0 3px;border-radius:3px}"
    ".verdict{border-left:4px solid #16324f;background:#f4f6f8;padding:.6em 1em}"
)


def inline(text: str) -> str:
    """One line of Markdown text as escaped HTML: inline code, bold and relative links.

    Links are kept only for relative paths of plain characters (the report links its own
    files); anything else stays text.
    """
    out: list[str] = []
    for i, part in enumerate(_CODE.split(text)):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        escaped = _BOLD.sub(r"<strong>\1</strong>", html.escape(part, quote=False))

        def link(match: re.Match[str]) -> str:
            label, href = match.group(1), match.group(2)
            if _SAFE_HREF.fullmatch(href) is None or href.startswith("//"):
                return match.group(0)
            return f'<a href="{href}">{label}</a>'

        out.append(_LINK.sub(link, escaped))
    return "".join(out)


def _table(rows: list[list[str]]) -> list[str]:
    head, *body = [r for r in rows if not set("".join(r)) <= set("-:| ")]
    out = ["<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body]
    out.append("</table>")
    return out


def _image(line: str, plots: dict[str, Path]) -> str:
    name = line.split("](plots/", 1)[1].rstrip(")")
    path = next(p for p in plots.values() if p.name == name)
    data = base64.b64encode(path.read_bytes()).decode()
    alt = html.escape(line[2 : line.index("]")])
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>'


def markdown_to_html(markdown: str, plots: dict[str, Path]) -> str:
    """A self-contained page: the Markdown's tables and text, images inlined (no CDN).

    A paragraph that starts with ``**Verdict**`` is set apart (class ``verdict``), so that a
    reader, and the browser test, find the headline at once.
    """
    body: list[str] = []
    table: list[list[str]] = []
    in_code = False

    def flush() -> None:
        if table:
            body.extend(_table(table))
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("```"):
            flush()
            in_code = not in_code
            body.append("<pre>" if in_code else "</pre>")
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        flush()
        if line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("## "):
            title = html.escape(line[3:])
            body.append(f'<h2 id="{title.lower().replace(" ", "-")}">{title}</h2>')
        elif line.startswith("![") and "](plots/" in line:
            body.append(_image(line, plots))
        elif line.startswith("_(") and line.endswith(")_"):
            body.append(f"<p><em>{inline(line[1:-1])}</em></p>")
        elif line.startswith("**Verdict**"):
            body.append(f'<p class="verdict" id="verdict">{inline(line)}</p>')
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
    flush()
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>EdgeShield demo report</title><style>{_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
