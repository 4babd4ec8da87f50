"""Secrets never reach a log line: redaction of every log record, at every level.

The CLI entry point installs one :class:`SecretRedactor` as a log-record factory, so every
record of every logger (alignwatch's, kafka-python's, SQLAlchemy's) is redacted when it is
created, before any handler (console, file, a test's capture) sees it. It replaces with
``**********``:

- the values of the settings' secrets (``SecretStr`` fields such as
  ``ALIGNWATCH_SASL_PASSWORD`` and ``ALIGNWATCH_SSL_PASSWORD``, and the password of the store
  URL), as written and in their escaped forms (Python and bytes reprs, JSON), wherever they
  appear: kafka-python logs its whole configuration at DEBUG, and its SASL PLAIN request
  bytes;
- the value of any password-like key (``password``, ``passwd``, ``secret``, ``token``,
  ``credentials``) in a logged mapping or ``key=value`` text, whatever its value;
- the password of any ``scheme://user:password@host`` URL.

The message, the formatted exception and the stack are redacted; the redacted message
replaces ``msg`` (``args`` emptied), so no handler can format the original.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MASK", "REDACTOR", "SecretRedactor", "install_redaction", "settings_secrets", "uninstall_redaction"]

MASK = "**********"
"""What a secret is replaced with (the same mask pydantic shows for a ``SecretStr``)."""

#: a secret this short would mask ordinary words; such values are still masked by key and URL
MIN_SECRET_LENGTH = 4

_SECRET_KEY = r"[\w.-]*(?:password|passwd|secret|token|credentials)[\w.-]*"
_KEY_VALUE = re.compile(
    # 'sasl_plain_password': 'x' / "ssl_password": "x" / password=x / token: x
    rf"(?P<key>(?P<quote>['\"]?)(?i:{_SECRET_KEY})(?P=quote)\s*[:=]\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,;)}\]]+)"
)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/?#@\s]*:)(?P<password>[^@/?#\s]+)(?P<at>@)")
_NOT_SECRET = frozenset({"None", "null", "''", '""', MASK, f"'{MASK}'", f'"{MASK}"'})


def _masked_value(match: re.Match[str]) -> str:
    value = match["value"]
    if value in _NOT_SECRET:
        return match[0]
    quote = value[0] if value[0] in "'\"" and len(value) > 1 and value[-1] == value[0] else ""
    return f"{match['key']}{quote}{MASK}{quote}"


def _forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in a log line: as is, escaped by repr, bytes repr, JSON."""
    forms = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8"))[2:-1], json.dumps(secret)[1:-1]}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class SecretRedactor(logging.Filter):
    """Masks secret values, password-like keys and URL passwords in log records.

    Also a ``logging.Filter`` (for a handler of its own), and usable on any text with
    :meth:`redact`. Thread-safe; secrets can be added at any time.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Mask these values from now on (None and empty values are ignored)."""
        with self._lock:
            forms = set(self._forms)
            for secret in secrets:
                if secret:
                    forms |= _forms(secret)
            # longest first: a secret containing another is masked whole
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every secret masked."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)
        return _KEY_VALUE.sub(_masked_value, text)

    def redact_record(self, record: logging.LogRecord) -> logging.LogRecord:
        """Mask the record's message, exception and stack in place; returns it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not format: leave it to the handler
            return record
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return record

    def filter(self, record: logging.LogRecord) -> bool:
        """As a filter: redact the record and let it pass."""
        self.redact_record(record)
        return True


def settings_secrets(settings: Any) -> list[str]:
    """The secret values of a settings object (a pydantic model): its ``SecretStr`` fields
    and the passwords of the URLs among its text fields."""
    from pydantic import SecretStr

    secrets: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            secrets.append(value.get_secret_value())
        elif isinstance(value, str) and "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                secrets.append(password)
    return secrets


REDACTOR = SecretRedactor()
"""The process's redactor: :func:`install_redaction` installs it, the CLI adds the secrets
of every settings object it builds."""

_installed: dict[int, Callable[..., logging.LogRecord]] = {}


def install_redaction(redactor: SecretRedactor = REDACTOR) -> None:
    """Redact every log record of the process with ``redactor`` when it is created.

    Installed once per redactor (idempotent): the current log-record factory is wrapped.
    """
    with redactor._lock:  # noqa: SLF001 - one installation per redactor
        if id(redactor) in _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redactor.redact_record(previous(*args, **kwargs))

        _installed[id(redactor)] = previous
        logging.setLogRecordFactory(factory)


def uninstall_redaction(redactor: SecretRedactor = REDACTOR) -> None:
    """Undo :func:`install_redaction` (the log-record factory it wrapped is restored)."""
    with redactor._lock:  # noqa: SLF001 - one installation per redactor
        previous = _installed.pop(id(redactor), None)
        if previous is not None:
            logging.setLogRecordFactory(previous)
