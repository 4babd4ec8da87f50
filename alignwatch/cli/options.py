"""Common command-line options, named the same on every command.

``--store URL``, ``--strategy FILE`` and, where Kafka is involved, ``--bootstrap-servers
HOST:PORT`` and ``--topic NAME`` (repeatable) override the settings object
(``alignwatch.config.Settings``); operators and scripts rely on these names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alignwatch.cli.logs import REDACTOR, settings_secrets
from alignwatch.config import Settings, load_settings
from alignwatch.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["business_option", "guard_business", "kafka_options", "settings_from", "store_option", "strategy_option"]

F = TypeVar("F", bound=Callable[..., Any])


def store_option(func: F) -> F:
    """``--store URL``: the SQLAlchemy URL of the store (default: ALIGNWATCH_STORE_URL)."""
    return click.option(
        "--store",
        "store_url",
        metavar="URL",
        default=None,
        help="Store URL, e.g. sqlite:///var/alignwatch.db or postgresql://user@host/db "
        "[env ALIGNWATCH_STORE_URL].",
    )(func)


def strategy_option(func: F) -> F:
    """``--strategy FILE``: the strategy file (default: ALIGNWATCH_STRATEGY_FILE)."""
    return click.option(
        "--strategy",
        "strategy_file",
        metavar="FILE",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Strategy file [env ALIGNWATCH_STRATEGY_FILE].",
    )(func)


def business_option(func: F) -> F:
    """``--allow-business-mismatch``: use the strategy even though the store serves another business."""
    return click.option(
        "--allow-business-mismatch",
        "allow_business_mismatch",
        is_flag=True,
        default=None,
        help="Use the strategy even when the store serves another business (a deliberate comparison) "
        "[env ALIGNWATCH_ALLOW_BUSINESS_MISMATCH].",
    )(func)


def guard_business(engine: Engine, business: str, settings: Settings, *, claim_by: str | None = None) -> None:
    """Refuse a strategy of another business than the store's (one line naming both).

    ``claim_by`` (the command's name) claims an unclaimed store first: commands that write
    events or metrics pass it, commands that only read do not, so reading never writes.
    """
    from alignwatch.store.business import check_business, claim_business

    allow = settings.allow_business_mismatch
    if claim_by is None:
        check_business(engine, business, allow_mismatch=allow)
    else:
        claim_business(engine, business, by=claim_by, allow_mismatch=allow)


def kafka_options(func: F) -> F:
    """``--bootstrap-servers HOST:PORT`` and repeatable ``--topic NAME``."""
    func = click.option(
        "--topic",
        "topics",
        metavar="NAME",
        multiple=True,
        help="Kafka topic; repeat for several [env ALIGNWATCH_TOPICS].",
    )(func)
    func = click.option(
        "--bootstrap-servers",
        "bootstrap_servers",
        metavar="HOST:PORT",
        default=None,
        help="Kafka bootstrap servers, comma-separated [env ALIGNWATCH_BOOTSTRAP_SERVERS].",
    )(func)
    return func


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment with the given command-line values on top.

    Their secrets are added to the log redaction (``alignwatch.cli.logs.REDACTOR``).
    """
    from pydantic import ValidationError

    if isinstance(overrides.get("bootstrap_servers"), str):
        overrides["bootstrap_servers"] = [
            part.strip() for part in overrides["bootstrap_servers"].split(",") if part.strip()
        ]
    if overrides.get("allow_business_mismatch") is False:
        overrides["allow_business_mismatch"] = None  # the flag not given: as the environment says
    if "topics" in overrides and overrides["topics"] is not None:
        overrides["topics"] = list(overrides["topics"]) or None
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    REDACTOR.add(*settings_secrets(settings))  # never logged from here on
    return settings
