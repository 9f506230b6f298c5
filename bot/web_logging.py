"""Logging set-up: readable in development, one JSON object per line in production, numbers masked."""
from __future__ import annotations

import logging
import re
import sys

from bot.config import Settings

PHONE = re.compile(r"\+?\d[\d\-\s().]{8,}\d")


class RedactNumbers(logging.Filter):
    """Last line of defence: any phone-like run of digits in a log line is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = PHONE.sub(lambda m: _mask(m.group()), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _mask(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if not 10 <= len(digits) <= 15:
        return text
    return "+" + digits[:1] + "*" * max(len(digits) - 5, 0) + digits[-4:]


def configure(settings: Settings) -> None:
    root = logging.getLogger()
    if getattr(root, "_helpline_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactNumbers())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root._helpline_configured = True
