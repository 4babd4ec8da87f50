"""The business a store serves: claimed once, checked by every command that uses a strategy.

A store holds one business's events and metrics. Nothing in an event says which business
sent it, so a store read with another business's strategy still yields numbers (the
bakery's store read with the online shop's strategy prints an SAI of 36.3) that are about
nothing. The store therefore records the business it serves (``store_business``, one row):

- the first command that writes events or metrics with a strategy **claims** the store
  for that strategy's ``business.name`` (:func:`claim_business`); a store migrated from a
  revision before this table is claimed the same way, on its next such write;
- every later command with a strategy, reading or writing, **checks** it
  (:func:`check_business`, :func:`claim_business`) and raises
  :class:`~alignwatch.errors.BusinessMismatchError`, naming both businesses and the store,
  unless told to allow the mismatch (``--allow-business-mismatch``,
  ``ALIGNWATCH_ALLOW_BUSINESS_MISMATCH``). An allowed mismatch never changes the claim.

The claim is one insert-or-ignore on a fixed key, so two commands claiming a fresh store at
once agree on the first one's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alignwatch.errors import BusinessMismatchError
from alignwatch.store.schema import store_business

__all__ = ["Claim", "check_business", "claim_business", "served_business"]

_SLOT = 1  # the table's only row


@dataclass(frozen=True)
class Claim:
    """Which business a store serves, since when and who claimed it."""

    business: str
    claimed_at: dt.datetime
    claimed_by: str | None


def served_business(engine: sa.Engine) -> Claim | None:
    """The store's claim, or None while no command has claimed it."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(store_business.c.business, store_business.c.claimed_at, store_business.c.claimed_by)
            .where(store_business.c.slot == _SLOT)
        ).first()
    return None if row is None else Claim(row.business, row.claimed_at, row.claimed_by)


def check_business(engine: sa.Engine, business: str, *, allow_mismatch: bool = False) -> Claim | None:
    """Raise when the store serves another business than ``business`` (unless ``allow_mismatch``).

    Reads only: an unclaimed store stays unclaimed (returns None).
    """
    claim = served_business(engine)
    if claim is not None and claim.business != business and not allow_mismatch:
        raise BusinessMismatchError(_store_name(engine), claim.business, business)
    return claim


def claim_business(
    engine: sa.Engine,
    business: str,
    *,
    by: str | None = None,
    allow_mismatch: bool = False,
    now: dt.datetime | None = None,
) -> Claim:
    """Claim an unclaimed store for ``business``, then check the claim as :func:`check_business`.

    ``by`` names the command, recorded with the claim. Returns the claim in force (the
    other business's, when a mismatch is allowed).
    """
    row = {
        "slot": _SLOT,
        "business": business,
        "claimed_at": now or dt.datetime.now(dt.UTC),
        "claimed_by": by[:256] if by else None,
    }
    with engine.begin() as conn:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(insert(store_business).values(**row).on_conflict_do_nothing(index_elements=["slot"]))
    claim = check_business(engine, business, allow_mismatch=allow_mismatch)
    assert claim is not None  # claimed above, or by whoever came first
    return claim


def _store_name(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
