"""Keep the docstrings of ``python/s3torch/_core.pyi`` equal to the native module's.

The Rust doc comments (``///`` on each ``#[pyclass]``, ``#[pymethods]`` item, getter and
``#[pyfunction]``) are the one source: PyO3 turns them into ``__doc__``, which ``help()`` shows,
and this script copies them into the stub, which IDEs, type checkers and the API docs read.

    python tools/stub_docs.py          # check: list every name whose docstrings differ, exit 1
    python tools/stub_docs.py --write  # rewrite the stub's docstrings from the built module

Run it from the repository root with the extension built (``make build``) and
``PYTHONPATH=python``. Dunder methods are skipped: their runtime docs are CPython's generic
slot descriptions.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

STUB = Path(__file__).resolve().parent.parent / "python" / "s3torch" / "_core.pyi"
MODULE = "s3torch._core"
LINE_LENGTH = 100


@dataclass
class Slot:
    """One stub name that can carry a docstring, with both docstrings and where to write."""

    name: str
    runtime: str | None
    stub: str | None
    node: ast.stmt
    """The def, class or attribute the docstring belongs to."""
    doc: ast.Expr | None
    """The stub's docstring statement, if it has one."""


def _runtime_doc(obj: object) -> str | None:
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    return inspect.cleandoc(doc)


def _docstring(statement: ast.stmt | None) -> ast.Expr | None:
    if (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    ):
        return statement
    return None


def _text(doc: ast.Expr | None) -> str | None:
    if doc is None:
        return None
    value = doc.value
    assert isinstance(value, ast.Constant) and isinstance(value.value, str)
    return inspect.cleandoc(value.value)


def _public(name: str) -> bool:
    return not (name.startswith("__") and name.endswith("__"))


def slots(tree: ast.Module, module: ModuleType) -> list[Slot]:
    """Every function, class, method, property and attribute of the stub, paired with the
    runtime object of the same name (missing ones have no runtime docstring)."""
    found: list[Slot] = []

    def add(name: str, runtime: object, node: ast.stmt, doc: ast.Expr | None) -> None:
        found.append(Slot(name, _runtime_doc(runtime), _text(doc), node, doc))

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and _public(node.name):
            add(node.name, getattr(module, node.name, None), node, _docstring(node.body[0]))
        elif isinstance(node, ast.ClassDef):
            cls = getattr(module, node.name, None)
            add(node.name, cls, node, _docstring(node.body[0]))
            members = vars(cls) if isinstance(cls, type) else {}
            for index, member in enumerate(node.body):
                qualified = f"{node.name}.{getattr(member, 'name', '')}"
                if isinstance(member, ast.FunctionDef) and _public(member.name):
                    add(qualified, members.get(member.name), member, _docstring(member.body[0]))
                elif isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                    following = node.body[index + 1] if index + 1 < len(node.body) else None
                    name = f"{node.name}.{member.target.id}"
                    add(name, members.get(member.target.id), member, _docstring(following))
    return found


def drift(stub: Path = STUB) -> list[str]:
    """The names whose stub docstring differs from the built module's, with both texts."""
    module = importlib.import_module(MODULE)
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    return [
        f"{slot.name}: stub {slot.stub!r} != native {slot.runtime!r}"
        for slot in slots(tree, module)
        if slot.stub != slot.runtime
    ]


def _literal(text: str, indent: str) -> str:
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if "\n" not in body and len(indent) + len(body) + 6 <= LINE_LENGTH:
        return f'"""{body}"""'
    lines = body.split("\n")
    rest = [f"{indent}{line}" if line else "" for line in lines[1:]]
    return "\n".join([f'"""{lines[0]}', *rest, f'{indent}"""'])


def write(stub: Path = STUB) -> int:
    """Rewrite the stub's docstrings from the built module; returns how many changed."""
    module = importlib.import_module(MODULE)
    source = stub.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(line: int, col: int) -> int:
        return offsets[line - 1] + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8"))

    edits: list[tuple[int, int, str]] = []
    for slot in slots(ast.parse(source), module):
        if slot.stub == slot.runtime:
            continue
        node, doc = slot.node, slot.doc
        indent = " " * (node.col_offset + (0 if isinstance(node, ast.AnnAssign) else 4))
        literal = None if slot.runtime is None else _literal(slot.runtime, indent)
        if doc is not None:
            assert doc.end_lineno is not None and doc.end_col_offset is not None
            start, end = at(doc.lineno, doc.col_offset), at(doc.end_lineno, doc.end_col_offset)
            if literal is not None:
                edits.append((start, end, literal))
            elif isinstance(node, ast.FunctionDef) and len(node.body) == 1:
                edits.append((start, end, "..."))
            else:  # drop the docstring's whole line
                edits.append((offsets[doc.lineno - 1], offsets[doc.end_lineno], ""))
        elif literal is not None:
            if isinstance(node, ast.FunctionDef):
                body = node.body[0]
                assert body.end_lineno is not None and body.end_col_offset is not None
                start, end = (
                    at(body.lineno, body.col_offset),
                    at(body.end_lineno, body.end_col_offset),
                )
                same_line = body.lineno == node.lineno or lines[body.lineno - 1][
                    : body.col_offset
                ].strip().endswith(":")
                edits.append((start, end, f"\n{indent}{literal}" if same_line else literal))
            elif isinstance(node, ast.ClassDef):
                first = node.body[0]
                decorators = getattr(first, "decorator_list", [])
                line = min([first.lineno, *(d.lineno for d in decorators)])
                edits.append((offsets[line - 1], offsets[line - 1], f"{indent}{literal}\n\n"))
            else:
                assert node.end_lineno is not None
                edits.append(
                    (offsets[node.end_lineno], offsets[node.end_lineno], f"{indent}{literal}\n")
                )
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    stub.write_text(source, encoding="utf-8")
    return len(edits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite the stub's docstrings")
    parser.add_argument(
        "--stub", type=Path, default=STUB, help="the stub file (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.stub)
        print(f"{args.stub}: {changed} docstring(s) rewritten from {MODULE}")
        return 0
    problems = drift(args.stub)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} docstring(s) of {args.stub.name} differ from the Rust doc comments: "
            "edit the Rust `///` and run `python tools/stub_docs.py --write`",
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
