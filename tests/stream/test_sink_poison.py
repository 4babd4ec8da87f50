"""Nothing the sink receives can stop it, and nothing it turns away is lost: conflicting
duplicates, rows the store refuses and unstorable text in quarantine records, on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from helpers_stream import quarantine_rows, stored_identities

from alignwatch.store.schema import events
from alignwatch.stream.contract import RejectReason
from alignwatch.stream.decode import make_event
from alignwatch.stream.encode import encode_structured
from alignwatch.stream.process import Origin, Quarantined, Received
from alignwatch.stream.sink import StoreSink

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def order(event_id: str, amount: float, *, source: str = "shop") -> object:
    return make_event(
        "customer.order", source, event_id, NOW, {"customer_id": "c1", "order_id": f"o-{event_id}", "amount": amount,
                                                  "repeat": False},
    )  # fmt: skip


def received(event: object, offset: int) -> Received:
    return Received(encode_structured(event), [], Origin(topic="shop.events", partition=0, offset=offset))


def test_a_second_version_of_a_stored_event_is_quarantined_and_the_first_stays_authoritative(store_engine):
    sink = StoreSink(store_engine)
    sink.add(order("1", 10.0), received(order("1", 10.0), 0))
    assert sink.flush().stored == 1
    changed = order("1", 99.5)
    sink.add(changed, received(changed, 7))
    result = sink.flush()
    assert (result.stored, result.duplicates, result.quarantined) == (0, 0, 1)
    assert [record.reason for record in result.turned_away] == ["conflicting_duplicate"]
    with store_engine.connect() as conn:
        assert conn.execute(sa.select(events.c.data)).scalar_one()["amount"] == 10.0
    [row] = quarantine_rows(store_engine)
    assert row["reason_code"] == RejectReason.CONFLICTING_DUPLICATE
    assert (row["source"], row["event_id"], row["origin_topic"], row["origin_offset"]) == ("shop", "1", "shop.events", 7)
    assert b"99.5" in bytes(row["raw"])
    assert "first version stays authoritative" in row["message"]


def test_an_identical_repeat_is_a_plain_duplicate_whatever_the_number_spelling(store_engine):
    sink = StoreSink(store_engine)
    sink.add(order("1", 10.0))
    sink.flush()
    sink.add(order("1", 10))  # 10 and 10.0 are the same amount
    result = sink.flush()
    assert (result.stored, result.duplicates, result.quarantined, result.turned_away) == (0, 1, 0, ())
    assert quarantine_rows(store_engine) == []


def test_a_conflicting_repeat_within_one_batch_is_quarantined_and_the_first_is_stored(store_engine):
    sink = StoreSink(store_engine)
    sink.add(order("1", 10.0))
    sink.add(order("1", 10.0))  # identical: a duplicate
    sink.add(order("1", 12.0), received(order("1", 12.0), 3))  # conflicting
    result = sink.flush()
    assert (result.stored, result.duplicates, result.quarantined) == (1, 1, 1)
    with store_engine.connect() as conn:
        assert conn.execute(sa.select(events.c.data)).scalar_one()["amount"] == 10.0
    assert [row["reason_code"] for row in quarantine_rows(store_engine)] == ["conflicting_duplicate"]


def _refuse_source(engine: sa.Engine, source: str) -> None:
    """A rule of the database (as a DBA might add) that refuses some rows for its own reasons."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.source = '{source}' THEN RAISE EXCEPTION 'refused by policy: %%', NEW.event_id; END IF; "
                "RETURN NEW; END $$"
            )
            conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()")
        else:
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.source = '{source}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by policy'); END"
            )


def test_rows_the_store_refuses_are_isolated_and_quarantined_and_every_other_row_is_stored(store_engine):
    _refuse_source(store_engine, "bad-shop")
    sink = StoreSink(store_engine)
    for number in range(100):
        source = "bad-shop" if number in (17, 64) else "shop"
        event = order(str(number), float(number), source=source)
        sink.add(event, received(event, number))
    sink.quarantine(Quarantined(raw=b"{", reason="not_json", message="not JSON", origin=Origin(file="f", line=1)))
    result = sink.flush()
    # 100 events: 98 stored, 2 refused; plus the decoder's rejection = 3 quarantine rows
    assert (result.stored, result.duplicates, result.quarantined) == (98, 0, 3)
    assert sorted(record.event_id for record in result.turned_away) == ["17", "64"]
    assert len(stored_identities(store_engine)) == 98
    rows = {row["event_id"]: row for row in quarantine_rows(store_engine) if row["reason_code"] == "store_rejected"}
    assert sorted(rows) == ["17", "64"]
    assert all("refused by policy" in row["message"] for row in rows.values())
    assert rows["64"]["origin_offset"] == 64 and b'"amount":64.0' in bytes(rows["64"]["raw"])
    # writing the same batch again (a redelivery) stores nothing twice and keeps one row each
    for number in range(100):
        source = "bad-shop" if number in (17, 64) else "shop"
        event = order(str(number), float(number), source=source)
        sink.add(event, received(event, number))
    again = sink.flush()
    assert (again.stored, again.duplicates) == (0, 98)
    assert len([row for row in quarantine_rows(store_engine) if row["reason_code"] == "store_rejected"]) == 2


def test_a_quarantine_record_holding_text_no_database_takes_is_written_escaped(store_engine):
    sink = StoreSink(store_engine)
    raw = b'{"id":"a\\u0000b","source":"s\\u0000","type":"[/]"}'
    sink.quarantine(
        Quarantined(
            raw=raw, reason="invalid_attribute", message="id: 'a\x00b' contains \udcff", origin=Origin(topic="t\x00", partition=0, offset=1),
            headers=[("k\x00ey", b"\x00\xff")], source="s\x00", event_id="a\x00b",
        )
    )  # fmt: skip
    assert sink.flush().quarantined == 1
    [row] = quarantine_rows(store_engine)
    assert bytes(row["raw"]) == raw
    assert (row["source"], row["event_id"]) == ("s\\x00", "a\\x00b")
    assert "\\x00" in row["message"] and "\\udcff" in row["message"]
