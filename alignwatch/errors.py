"""The exception hierarchy of alignwatch.

    AlignwatchError                 base of every expected error; the CLI prints it in one line
    ├── ConfigError                 bad settings or command-line options
    │   └── BusinessMismatchError   the strategy's business is not the one the store serves
    ├── StrategyError               a strategy file failed validation (carries every problem)
    ├── StoreError                  the SQL store is unreachable or not migrated
    ├── BrokerError                 the Kafka broker is unreachable or misbehaves
    ├── ImportFormatError           an imported log (XES, robot log) is malformed
    ├── FileAccessError             a file or directory cannot be read, written or created
    └── MissingExtraError           a feature needs an optional extra that is not installed

Rejected *events* are not exceptions: decoding returns a typed rejection (see
``alignwatch.stream.decode``) so that a bad message never stops a consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AlignwatchError",
    "BrokerError",
    "BusinessMismatchError",
    "ConfigError",
    "FileAccessError",
    "ImportFormatError",
    "MissingExtraError",
    "Problem",
    "StoreError",
    "StrategyError",
]


class AlignwatchError(Exception):
    """Base of every error the CLI reports as one clear line and a non-zero exit."""

    exit_code = 1


class ConfigError(AlignwatchError):
    """Settings or options are missing or invalid."""

    exit_code = 2


class BusinessMismatchError(ConfigError):
    """A command was given the strategy of another business than the one its store serves.

    One store holds one business's events and metrics: a scorecard computed with another
    business's strategy is a number about nothing (the bakery's store read with the online
    shop's strategy still prints an SAI). ``--allow-business-mismatch`` lets it through.
    """

    def __init__(self, store: str, served: str, given: str) -> None:
        self.store = store
        self.served = served
        self.given = given
        super().__init__(
            f"store {store} serves {served!r}, not {given!r} (the business of the strategy given): use "
            f"{served!r}'s strategy or another store, or --allow-business-mismatch (ALIGNWATCH_ALLOW_BUSINESS_MISMATCH) "
            "to go on anyway"
        )


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is (``goals[2].kpis[0]``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class StrategyError(AlignwatchError):
    """A strategy file is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class StoreError(AlignwatchError):
    """The store cannot be reached, or its schema is not at the expected revision."""


class BrokerError(AlignwatchError):
    """The Kafka broker cannot be reached or refused an operation."""


class ImportFormatError(AlignwatchError):
    """An imported log file is malformed; the message names where it broke."""


class FileAccessError(AlignwatchError):
    """A path given to a command cannot be read, written or created; the message names it."""

    @classmethod
    def of(cls, action: str, exc: OSError, path: object = None) -> FileAccessError:
        """``cannot <action> <path>: <reason>`` from an ``OSError``, in the operating system's words.

        ``path`` is the one the user gave; when the error is about another one (the missing
        directory above it), that one is named too, since it is the one to fix.
        """
        culprit = exc.filename
        if path is None or culprit is None or str(culprit) == str(path):
            return cls(f"cannot {action} {path if culprit is None else culprit}: {exc.strerror or exc}")
        return cls(f"cannot {action} {path}: {culprit}: {exc.strerror or exc}")


class MissingExtraError(AlignwatchError):
    """A feature needs an optional extra of the distribution that is not installed."""

    exit_code = 2

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'alignwatch[{extra}]'")
