"""MkDocs hook: fail the build on Markdown that only the docs site can show.

The README links into doc/, so every page is also read on GitHub, which shows MkDocs'
extensions as raw text: admonitions (``!!! note``), collapsible blocks (``??? note``), content
tabs (``=== "Tab"``), snippet includes (``--8<--``) and attribute lists (``{: .class }``,
``{#id}``). This hook finds them outside code blocks and stops the build with the page and line
of each, so that pages stay plain Markdown (a bold lead-in, a heading or a blockquote does the
same job everywhere).

``_NOT_YET_PLAIN`` lists the pages that still use such syntax, each with its reason; remove a
page from it once it is rewritten.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.pages import Page

_NOT_YET_PLAIN: dict[str, str] = {}
"""Pages allowed to keep site-only syntax for now, and why."""

_SITE_ONLY = [
    (re.compile(r"^\s*!!!\s"), "an admonition (!!!)"),
    (re.compile(r"^\s*\?\?\?\+?\s"), "a collapsible block (???)"),
    (re.compile(r'^\s*===\+?\s+"'), 'a content tab (=== "...")'),
    (re.compile(r"--8<--"), "a snippet include (--8<--)"),
    (re.compile(r"\{:?\s*[.#][\w-]+[^}]*\}\s*$"), "an attribute list ({: ...})"),
]
_FENCE = re.compile(r"^\s*(```|~~~)")


def site_only_syntax(markdown: str) -> list[tuple[int, str]]:
    """(line number, what) for each use of site-only syntax outside fenced code."""
    found = []
    fence: str | None = None
    for number, line in enumerate(markdown.splitlines(), start=1):
        opening = _FENCE.match(line)
        if opening:
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is not None:
            continue
        for pattern, what in _SITE_ONLY:
            if pattern.search(line):
                found.append((number, what))
                break
    return found


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, **kwargs: Any) -> str:
    name = page.file.src_uri
    # The API reference pages are mkdocstrings directives (::: name) by nature: site only.
    if name in _NOT_YET_PLAIN or name.startswith("reference/"):
        return markdown
    found = site_only_syntax(markdown)
    if found:
        places = "; ".join(f"line {number}: {what}" for number, what in found)
        raise PluginError(
            f"doc/{name} uses Markdown that GitHub shows as raw text ({places}): write it as "
            "plain Markdown (see doc/_hooks/plain_markdown.py)"
        )
    return markdown
