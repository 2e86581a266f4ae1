"""Native log records into Python's :mod:`logging`, under the ``s3torch`` logger.

s3torch's Python code logs to ``logging.getLogger("s3torch")`` (and children) like any library:
nothing is shown unless the application configures logging. The native core's records (the S3
client's events, such as a retried request, and optionally the CRT's own log) cost nothing until
they are switched on with :func:`enable_logging`, or by setting ``S3TORCH_LOG`` (a level name,
e.g. ``S3TORCH_LOG=DEBUG``) before ``import s3torch``. ``S3TORCH_CRT_LOG`` (a level name) adds the
CRT's own, very detailed, log under ``s3torch.crt``.

Loggers:

- ``s3torch.retry``: one WARNING per failed attempt that the client retries;
- ``s3torch.client``: the S3 client's events (requests finished or failed, at DEBUG);
- ``s3torch.crt``: the AWS Common Runtime's own log (only with ``S3TORCH_CRT_LOG``);
- ``s3torch.*``: the Python layer (datasets, writers, checkpoints).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

from . import _core

__all__ = ["disable_logging", "enable_logging", "flush_native_logs"]

_LOGGER = logging.getLogger("s3torch")
_LOGGER.addHandler(logging.NullHandler())

_BATCH = 1000
_WAIT_S = 0.2
_lock = threading.Lock()
_pump: threading.Thread | None = None
_stop = threading.Event()
_handler: logging.Handler | None = None


def _level_number(level: int | str) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"level must be a logging level (int or name), not {type(level).__name__}")
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.strip().upper())
    if not isinstance(number, int):
        raise ValueError(
            f"unknown logging level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return number


def _logger_for(source: str) -> logging.Logger:
    if source.startswith("awscrt"):
        return logging.getLogger("s3torch.crt")
    if source.startswith("s3torch::retry"):
        return logging.getLogger("s3torch.retry")
    return logging.getLogger("s3torch.client")


def _emit(level: int, source: str, message: str, created: float) -> None:
    logger = _logger_for(source)
    if not logger.isEnabledFor(level):
        return
    record = logger.makeRecord(logger.name, level, source, 0, message, (), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    logger.handle(record)


def _drain(timeout: float) -> int:
    records, dropped = _core._drain_logs(_BATCH, timeout)
    for level, source, message, created in records:
        _emit(level, source, message, created)
    if dropped:
        _LOGGER.warning("%d native log records were dropped (too many at once)", dropped)
    return len(records)


def _run_pump() -> None:
    while not _stop.is_set():
        try:
            _drain(_WAIT_S)
        except Exception:  # never let a bad handler kill log forwarding
            _LOGGER.exception("forwarding native log records failed")


def _start_pump() -> None:
    global _pump
    if _pump is not None and _pump.is_alive():
        return
    _stop.clear()
    _pump = threading.Thread(target=_run_pump, name="s3torch-log", daemon=True)
    _pump.start()


def enable_logging(level: int | str = logging.INFO, *, crt_level: int | str | None = None) -> None:
    """Show s3torch's log, native records included, at ``level`` and above.

    Forwards the native core's records into :mod:`logging` (see the module documentation for
    the logger names) and sets the ``s3torch`` logger's level. If neither the ``s3torch``
    logger nor the root logger has a handler, a stderr handler is added to ``s3torch``, so one
    call is enough to see the log; an application that configures logging itself keeps its own
    handlers and format.

    Args:
        level: a :mod:`logging` level, as a number or a name (``"DEBUG"``).
        crt_level: also forward the AWS Common Runtime's own log at this level (very verbose
            at DEBUG); None leaves it as ``S3TORCH_CRT_LOG`` set it (off by default).

    Raises:
        ValueError, TypeError: an unknown level.
    """
    global _handler
    number = _level_number(level)
    crt_number = None if crt_level is None else _level_number(crt_level)
    with _lock:
        _LOGGER.setLevel(number)
        real_handlers = [h for h in _LOGGER.handlers if not isinstance(h, logging.NullHandler)]
        if not real_handlers and not logging.getLogger().handlers and _handler is None:
            _handler = logging.StreamHandler()
            _handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            _LOGGER.addHandler(_handler)
        if not _core._set_log_level(number):
            _LOGGER.warning(
                "another tracing subscriber owns this process: "
                "the S3 client's native records cannot be forwarded"
            )
        if crt_number is not None:
            logging.getLogger("s3torch.crt").setLevel(crt_number)
            _core._set_crt_log_level(crt_number)
        _start_pump()


def disable_logging() -> None:
    """Stop forwarding native records and remove the handler :func:`enable_logging` added."""
    global _handler
    with _lock:
        _core._set_log_level(logging.CRITICAL + 10)
        _core._set_crt_log_level(logging.CRITICAL + 10)
        logging.getLogger("s3torch.crt").setLevel(logging.NOTSET)
        _stop.set()
        if _handler is not None:
            _LOGGER.removeHandler(_handler)
            _handler = None
        _LOGGER.setLevel(logging.NOTSET)


def flush_native_logs() -> None:
    """Hand every queued native record to :mod:`logging` now (tests, and before exit)."""
    while _drain(0.0):
        pass


def _after_fork_in_child() -> None:
    # The pump thread did not survive the fork; start another if forwarding is on.
    global _pump
    _pump = None
    if not _stop.is_set() and _LOGGER.level:
        _start_pump()


def _configure_from_environment() -> None:
    level = os.environ.get("S3TORCH_LOG", "").strip()
    crt_level = os.environ.get("S3TORCH_CRT_LOG", "").strip()
    if not (level or crt_level):
        return
    try:
        enable_logging(level or "WARNING", crt_level=crt_level or None)
    except ValueError as e:
        # A typo in an environment variable must not make `import s3torch` fail.
        warnings.warn(f"S3TORCH_LOG/S3TORCH_CRT_LOG ignored: {e}", stacklevel=2)


_stop.set()
os.register_at_fork(after_in_child=_after_fork_in_child)
_configure_from_environment()
