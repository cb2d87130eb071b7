"""Phone and ID numbers masked in every log line (个人信息保护法): the message, its arguments, the
exception text (a traceback can carry a failing statement's values) and the stack.

    install()      once per process, any number of times (create_app and run_bot.py both call it)

Why a LogRecord factory and not only a handler filter: a filter sits on one handler, and handlers are
added after start by code we do not control (gunicorn's error log, logging.basicConfig, a test's
capture), while a filter on the root *logger* never sees records propagated from child loggers. The
factory masks each record as it is made, so whatever handler, formatter or logger it reaches later
only ever holds the masked text. The factory wraps the one already set (another library's stays in
the chain). `PiiFilter` does the same work for records made without the factory
(logging.makeLogRecord, e.g. records unpickled from a socket); install() puts it on the root logger's
handlers present at the time.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from nlp.extract import mask_pii

_DONE = "_jiesu_pii_masked"          # set on a record once masked: a second pass is a no-op
_lock = threading.Lock()


def _changes(value) -> bool:
    s = value if isinstance(value, str) else str(value)
    return mask_pii(s) != s


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask `record` in place. Never raises: logging must not break the request that logs."""
    if getattr(record, _DONE, False):
        return record
    try:
        try:
            message = record.getMessage()
        except Exception:    # a bad format string: left for the handler to report, as logging does
            message = None
        if message is not None:
            masked = mask_pii(message)
            args = record.args
            values = args.values() if isinstance(args, Mapping) else (args or ())
            # Formatted once here, as QueueHandler.prepare does: the arguments then cannot carry the
            # numbers to a handler that reads them (even an argument the format string left unused).
            if masked != message or any(_changes(v) for v in values):
                record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatter.format uses exc_text when it is set; exc_info is dropped so that no formatter
            # can render the raw exception (its str() may hold a statement's values) again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
    except Exception:        # noqa: BLE001 - fall back to a line that says nothing personal
        record.msg, record.args, record.exc_info, record.exc_text = "(log line withheld: masking failed)", None, None, None
    setattr(record, _DONE, True)
    return record


class PiiFilter(logging.Filter):
    """Masks the records a handler receives (for records made without the factory)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def _wrap(previous):
    def factory(*args, **kwargs):
        return mask_record(previous(*args, **kwargs))
    factory._jiesu_pii = True
    return factory


def installed() -> bool:
    return getattr(logging.getLogRecordFactory(), "_jiesu_pii", False)


def install() -> None:
    """Mask every log record of this process from now on. Idempotent and thread-safe."""
    with _lock:
        if not installed():
            logging.setLogRecordFactory(_wrap(logging.getLogRecordFactory()))
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, PiiFilter) for f in handler.filters):
                handler.addFilter(PiiFilter())
