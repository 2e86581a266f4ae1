"""Every public name and parameter of s3torchconnector 1.5 exists in s3torch.

Users switch by changing one import, so each public module, class, function and method of the
incumbent must have a counterpart here that accepts the same parameters (by name, so keyword
calls keep working). The incumbent is installed from PyPI with the test dependencies.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

MODULES = [
    ("s3torchconnector", "s3torch"),
    ("s3torchconnector.s3reader", "s3torch.s3reader"),
    ("s3torchconnector.dcp", "s3torch.dcp"),
    ("s3torchconnector.lightning", "s3torch.lightning"),
]


def _parameters(obj: Any) -> dict[str, inspect.Parameter] | None:
    obj = getattr(obj, "__func__", obj)
    if not callable(obj):
        return None
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return None


def _public_members(cls: type) -> list[str]:
    return [name for name in vars(cls) if not name.startswith("_") or name == "__init__"]


def _differences(theirs_module: str, ours_module: str) -> list[str]:
    theirs = importlib.import_module(theirs_module)
    ours = importlib.import_module(ours_module)
    names = getattr(theirs, "__all__", None) or [n for n in dir(theirs) if not n.startswith("_")]
    problems = []
    for name in names:
        if not hasattr(ours, name):
            problems.append(f"{ours_module}.{name} is missing")
            continue
        pairs = [(name, getattr(theirs, name), getattr(ours, name))]
        if inspect.isclass(pairs[0][1]):
            for member in _public_members(pairs[0][1]):
                if not hasattr(pairs[0][2], member):
                    problems.append(f"{ours_module}.{name}.{member} is missing")
                    continue
                pairs.append(
                    (
                        f"{name}.{member}",
                        vars(pairs[0][1])[member],
                        inspect.getattr_static(pairs[0][2], member),
                    )
                )
        for label, their_obj, our_obj in pairs:
            their_params, our_params = _parameters(their_obj), _parameters(our_obj)
            if their_params is None or our_params is None:
                continue
            takes_any_keyword = any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in our_params.values()
            )
            for param in their_params.values():
                if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name == "self":
                    continue
                if param.name not in our_params and not takes_any_keyword:
                    problems.append(f"{ours_module}.{label} lacks parameter {param.name!r}")
                elif (
                    param.name in our_params
                    and param.kind is not param.POSITIONAL_ONLY
                    and our_params[param.name].kind is inspect.Parameter.POSITIONAL_ONLY
                ):
                    problems.append(f"{ours_module}.{label}: {param.name!r} is positional-only")
    return problems


@pytest.mark.parametrize(("theirs", "ours"), MODULES)
def test_public_api_matches_s3torchconnector(theirs: str, ours: str) -> None:
    pytest.importorskip(theirs, reason="s3torchconnector 1.5 is a test dependency")
    assert _differences(theirs, ours) == []


def test_the_checker_notices_a_missing_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("s3torchconnector")
    import s3torch

    def get_object(self: Any, bucket: str) -> None: ...

    monkeypatch.setattr(s3torch.S3Client, "get_object", get_object)
    monkeypatch.delattr(s3torch, "S3Checkpoint")
    problems = _differences("s3torchconnector._s3client", "s3torch")
    assert any("get_object lacks parameter 'key'" in p for p in problems)
    assert _differences("s3torchconnector", "s3torch") == ["s3torch.S3Checkpoint is missing"]
