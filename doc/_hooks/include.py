"""MkDocs hook: include a Markdown file from outside doc/ (the benchmark results) in a page.

A page line ``<!-- include: benchmarks/results/latest.md -->`` (path from the repository root) is
replaced by that file's text, read at every build, so the page always shows the current file.
Headings move one level down (the file's title becomes a section of the page; add ``shift=0``
after the path to keep them), and relative links are rebased: a link to a page of the site
points to it from the including page; a link to anything else outside doc/ keeps its text only,
since the site does not publish it.

A line ``<!-- include-image: benchmarks/results/ratios.png "alt text" -->`` publishes that image
with the site (under ``assets/``) and shows it, when the file exists; otherwise the line is
dropped.

An include comment is invisible on GitHub, where the README's links also lead: give such a page
a line for GitHub readers too, e.g. ``See [the examples](../examples/README.md).
<!-- github only -->``. A line ending with ``<!-- github only -->`` is left out of the site,
where the included text stands in its place (and its link, outside doc/, would not resolve).

Pure pymdownx.snippets would break the strict build on the results' link to doc/benchmarks.md,
which is relative to benchmarks/results/.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

_INCLUDE = re.compile(r"^<!-- include: (?P<path>\S+)(?: shift=(?P<shift>[0-5]))? -->[ \t]*$", re.M)
_IMAGE = re.compile(r'^<!-- include-image: (?P<path>\S+) "(?P<alt>[^"]*)" -->[ \t]*$', re.M)
_GITHUB_ONLY = re.compile(r"^[^\n]*<!-- github only -->[ \t]*(?:\n|$)", re.M)
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,5}) ", re.M)
_FENCE = re.compile(r"^(```|~~~)", re.M)


def _root(config: MkDocsConfig) -> str:
    return os.path.dirname(os.path.abspath(config.config_file_path))


def _asset_uri(path: str) -> str:
    return "assets/" + os.path.basename(path)


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Publish the images that pages ask for with include-image."""
    docs_dir = config.docs_dir
    wanted: set[str] = set()
    for name in os.listdir(docs_dir):
        if name.endswith(".md"):
            with open(os.path.join(docs_dir, name), encoding="utf-8") as page:
                wanted.update(m.group("path") for m in _IMAGE.finditer(page.read()))
    for path in sorted(wanted):
        source = os.path.join(_root(config), path)
        if os.path.isfile(source):
            files.append(File.generated(config, _asset_uri(path), abs_src_path=source))
    return files


def _rebase(text: str, included: str, page: Page, config: MkDocsConfig) -> str:
    docs_dir = os.path.abspath(config.docs_dir)
    page_dir = posixpath.dirname(page.file.src_uri)

    def link(match: re.Match[str]) -> str:
        target = match.group("target")
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        absolute = os.path.normpath(os.path.join(os.path.dirname(included), path))
        if absolute.startswith(docs_dir + os.sep):
            inside = os.path.relpath(absolute, docs_dir).replace(os.sep, "/")
            rebased = posixpath.relpath(inside, page_dir or ".")
            fragment = "#" + anchor if anchor else ""
            return f"{match.group('bang')}[{match.group('text')}]({rebased}{fragment})"
        return match.group("text")

    return _LINK.sub(link, text)


def _demote(text: str, levels: int) -> str:
    out, in_fence = [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence:
            line = _HEADING.sub(lambda m: "#" * levels + m.group(1) + " ", line)
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, **kwargs: Any) -> str:
    root = _root(config)

    def include(match: re.Match[str]) -> str:
        path = os.path.join(root, match.group("path"))
        try:
            with open(path, encoding="utf-8") as source:
                text = source.read()
        except OSError as error:
            raise PluginError(
                f"{page.file.src_uri}: cannot include {match.group('path')}: {error}"
            ) from error
        levels = int(match.group("shift") or 1)
        return _demote(_rebase(text, path, page, config), levels)

    def image(match: re.Match[str]) -> str:
        if not os.path.isfile(os.path.join(root, match.group("path"))):
            return ""
        page_dir = posixpath.dirname(page.file.src_uri) or "."
        uri = posixpath.relpath(_asset_uri(match.group("path")), page_dir)
        return f"![{match.group('alt')}]({uri})"

    markdown = _GITHUB_ONLY.sub("", markdown)
    return _IMAGE.sub(image, _INCLUDE.sub(include, markdown))
