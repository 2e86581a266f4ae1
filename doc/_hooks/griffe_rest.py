"""A Griffe extension for the API reference: reST markup in docstrings, as Markdown.

The docstrings are Google style but use a few reST forms that Python-Markdown does not know:
roles (:class:`S3Client`, :meth:`~S3Reader.prefetch`) and literal blocks introduced by ``::``.
Roles become code that links to the object's entry when the reference documents it (an
``optional`` autoref, which stays plain code otherwise); ``::`` blocks become fenced Python code.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj):`(~?)([^`]+)`")
# A paragraph ending in "::" and the indented block under it.
_LITERAL = re.compile(
    r"^(?P<indent>[ ]*)(?P<text>.*?)::\n\n(?P<block>(?:(?P=indent)[ ]{4}.*\n|[ ]*\n)+)", re.M
)


def _resolve(obj: griffe.Object, name: str) -> str | None:
    """The full path ``name`` stands for in ``obj``'s docstring, if Griffe can tell."""
    for scope in (obj, obj.parent):
        if scope is None:
            continue
        try:
            return scope.resolve(name)
        except (griffe.NameResolutionError, AttributeError, KeyError, ValueError):
            pass
    head = name.split(".", 1)[0]
    if head in ("s3torch", "torch"):
        return name
    return None


def _role(obj: griffe.Object, match: re.Match[str]) -> str:
    short, name = match.group(1) == "~", match.group(2)
    name = name.strip("()")
    shown = name.rsplit(".", 1)[-1] if short else name
    code = f"`{shown}`"
    path = _resolve(obj, name)
    if path is None:
        return code
    return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'


def _literal(match: re.Match[str]) -> str:
    indent, text = match.group("indent"), match.group("text")
    block = match.group("block").split("\n")
    lines = [line[len(indent) + 4 :] if line.strip() else "" for line in block]
    code = "\n".join(lines).rstrip("\n")
    lead = f"{indent}{text}:\n\n" if text.strip() else ""
    fenced = "\n".join(f"{indent}{line}" if line else "" for line in code.split("\n"))
    return f"{lead}{indent}```python\n{fenced}\n{indent}```\n\n"


def _rewrite(obj: griffe.Object) -> None:
    docstring = obj.docstring
    if docstring is None:
        return
    text = _LITERAL.sub(_literal, docstring.value + "\n")
    text = _ROLE.sub(lambda m: _role(obj, m), text)
    docstring.value = text.rstrip("\n")


class RestToMarkdown(griffe.Extension):
    """Rewrite the docstrings of every object of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            _rewrite(obj)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
