"""One docstring source for the native module: the Rust doc comments, copied into
python/s3torch/_core.pyi by tools/stub_docs.py and checked here for drift."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stub_docs", ROOT / "tools" / "stub_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("stub_docs", module)
    spec.loader.exec_module(module)
    return module


def test_the_stub_docstrings_are_the_rust_doc_comments() -> None:
    assert _tool().drift() == [], "run `python tools/stub_docs.py --write`"


def test_the_writer_brings_a_drifted_stub_back(tmp_path: Path) -> None:
    tool = _tool()
    stub = tmp_path / "_core.pyi"
    text = tool.STUB.read_text(encoding="utf-8")
    # One docstring changed, one removed (a one-line def), one added where none belongs.
    text = text.replace('"""Bytes written so far."""', '"""Stale text."""', 1)
    tell = '"""Object offset of the next byte this stream returns."""'
    one_line = "    def tell(self) -> int: ..."
    text = text.replace(f"    def tell(self) -> int:\n        {tell}", one_line, 1)
    text = text.replace(
        "    def region(self) -> str: ...",
        '    def region(self) -> str:\n        """Invented."""',
        1,
    )
    stub.write_text(text, encoding="utf-8")
    assert len(tool.drift(stub)) == 3
    assert tool.write(stub) == 3
    assert tool.drift(stub) == []
    ast.parse(stub.read_text(encoding="utf-8"))
