"""The exporter's collector, cache and HTTP endpoint (TLS, basic auth), with promtool."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alignwatch.errors import ConfigError
from alignwatch.metrics.exporter import SnapshotCache, SnapshotCollector
from alignwatch.metrics.runs import RunState, Snapshot
from alignwatch.metrics.server import load_web_config, serve
from alignwatch.metrics.values import MetricValue

T0 = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
FAMILIES = {
    "sai": ("alignwatch_index_sai_score", "Strategic Alignment Index.", ("business", "window")),
    "kpi_attainment": ("alignwatch_kpi_attainment_ratio", "KPI attainment.", ("business", "kpi", "window")),
}


def _value(metric: str, labels: dict[str, str], window: str, end: dt.datetime, value: float | None) -> MetricValue:
    return MetricValue(metric, labels, window, end - dt.timedelta(hours=1), end, value)  # type: ignore[arg-type]


def _snapshot() -> Snapshot:
    return Snapshot(
        values=(
            _value("sai", {}, "hour", T0, 61.5),
            _value("sai", {}, "hour", T0 - dt.timedelta(hours=1), 40.0),
            _value("sai", {}, "day", T0, 58.0),
            _value("kpi_attainment", {"kpi": "csat"}, "hour", T0, 0.8),
            _value("kpi_attainment", {"kpi": "nps"}, "hour", T0, None),
            _value("not_in_catalogue", {}, "hour", T0, 1.0),
        ),
        last_published_at=T0 + dt.timedelta(minutes=2),
        runs=(RunState("continuous", "published", T0 + dt.timedelta(minutes=2), run_id=1),),
        validation_ok=False,
        failed_expectations=("metric_values.finite", "metric_values.ratio_in_range"),
        quarantine={"invalid_payload": 3},
    )


def _registry(snapshot: Snapshot) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(
        SnapshotCollector(lambda: snapshot, business="shop", families=FAMILIES, kpi_targets={"csat": ("customer", 4.5)})
    )
    return registry


def test_collector_serves_the_newest_window_of_each_kind_and_skips_missing_values() -> None:
    registry = _registry(_snapshot())
    assert registry.get_sample_value("alignwatch_index_sai_score", {"business": "shop", "window": "hour"}) == 61.5
    assert registry.get_sample_value("alignwatch_index_sai_score", {"business": "shop", "window": "day"}) == 58.0
    assert registry.get_sample_value("alignwatch_kpi_attainment_ratio", {"business": "shop", "kpi": "csat", "window": "hour"}) == 0.8
    assert registry.get_sample_value("alignwatch_kpi_attainment_ratio", {"business": "shop", "kpi": "nps", "window": "hour"}) is None
    assert b"not_in_catalogue" not in generate_latest(registry)


def test_collector_reports_pipeline_state_targets_and_validation_outcome() -> None:
    registry = _registry(_snapshot())
    published = (T0 + dt.timedelta(minutes=2)).timestamp()
    assert registry.get_sample_value("alignwatch_snapshot_timestamp_seconds", {"business": "shop"}) == published
    assert registry.get_sample_value(
        "alignwatch_pipeline_last_run_timestamp_seconds", {"business": "shop", "kind": "continuous", "status": "published"}
    ) == published
    assert registry.get_sample_value("alignwatch_pipeline_validation_success", {"business": "shop"}) == 0.0
    assert registry.get_sample_value("alignwatch_pipeline_validation_failed_expectations", {"business": "shop"}) == 2.0
    assert registry.get_sample_value("alignwatch_quarantine_messages", {"business": "shop", "reason": "invalid_payload"}) == 3.0
    assert registry.get_sample_value("alignwatch_kpi_target", {"business": "shop", "kpi": "csat", "perspective": "customer"}) == 4.5


def test_cache_reads_the_store_once_per_ttl_keeps_unchanged_snapshots_and_survives_a_store_failure() -> None:
    calls: list[int] = []
    now = [0.0]

    def loader() -> Snapshot:
        calls.append(1)
        return _snapshot()

    cache = SnapshotCache(loader, ttl_s=10, clock=lambda: now[0])
    first = cache()
    now[0] = 5
    assert cache() is first and len(calls) == 1
    now[0] = 11
    assert cache() is first and len(calls) == 2  # reloaded, unchanged: same object
    published = [_snapshot()]

    def changed() -> Snapshot:
        calls.append(1)
        if len(calls) == 4:
            raise OSError("store down")
        return published[0].__class__(values=published[0].values[:1])

    cache._loader = changed
    now[0] = 22
    second = cache()
    assert len(calls) == 3 and second is not first
    now[0] = 33
    assert cache() is second and cache.failures == 1 and "store down" in (cache.last_error or "")


def test_metrics_endpoint_output_passes_promtool_check_metrics(promtool: str) -> None:
    with serve(_registry(_snapshot()), host="127.0.0.1", port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        body = urllib.request.urlopen(server.url, timeout=5).read()  # noqa: S310
    assert b"alignwatch_index_sai_score" in body
    check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == b"" and check.stderr.strip() == b""


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "exporter.crt", tmp_path / "exporter.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_endpoint_with_web_config_requires_tls_and_the_right_password(tmp_path: Path, promtool: str) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    config = tmp_path / "web.yml"
    config.write_text(
        f"tls_server_config:\n  cert_file: {cert_file.name}\n  key_file: {key_file.name}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    web = load_web_config(config)
    # the same file is a valid web config for Prometheus's own tooling
    check = subprocess.run([promtool, "check", "web-config", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    context = ssl.create_default_context(cafile=str(cert_file))

    def fetch(url: str, password: str | None) -> int:
        request = urllib.request.Request(url)
        if password is not None:
            token = base64.b64encode(f"prometheus:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    with serve(_registry(_snapshot()), port=0, web_config=web) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert fetch(server.url, "s3cret") == 200
        assert fetch(server.url, "s3cret") == 200  # second time from the verified cache
        assert fetch(server.url, "wrong") == 401
        assert fetch(server.url, None) == 401
        with pytest.raises(OSError):  # plain HTTP is refused: the handshake fails
            urllib.request.urlopen(server.url.replace("https", "http"), timeout=5)  # noqa: S310


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "tls_server_config.cert_file: no such file"),
        ("basic_auth_users:\n  alice: plaintext\n", "basic_auth_users.alice: must be a bcrypt hash"),
        ("tls_config: {}\n", "unknown key 'tls_config'"),
        ("tls_server_config:\n  min_version: TLS10\n", "min_version: use TLS12 or TLS13"),
    ],
)
def test_web_config_errors_name_the_bad_key(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "web.yml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("$", r"\$")):
        load_web_config(config)


def test_cached_snapshot_endpoint_merges_live_instruments_in_both_exposition_formats(promtool: str) -> None:
    from prometheus_client import Counter

    live = CollectorRegistry()
    Counter("alignwatch_ingest_events_consumed", "Messages read.", registry=live).inc(7)
    snapshot = _snapshot()
    collector = SnapshotCollector(lambda: snapshot, business="shop", families=FAMILIES)
    with serve(live, port=0, snapshot=collector) as server:
        text = urllib.request.urlopen(server.url, timeout=5).read()  # noqa: S310
        request = urllib.request.Request(server.url, headers={"Accept": "application/openmetrics-text;version=1.0.0"})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            openmetrics = response.read()
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert b"alignwatch_ingest_events_consumed_total 7.0" in text
    assert b'alignwatch_index_sai_score{business="shop",window="hour"} 61.5' in text
    assert openmetrics.count(b"# EOF") == 1 and openmetrics.endswith(b"# EOF\n")
    assert b"alignwatch_ingest_events_consumed_total 7.0" in openmetrics
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_catalogue_metrics_in_minutes_are_served_in_seconds_under_a_promtool_clean_name(promtool: str) -> None:
    from alignwatch.metrics.catalogue import CATALOGUE
    from alignwatch.metrics.exporter import catalogue_families, catalogue_scales, served_name

    minutes = [decl for decl in CATALOGUE.values() if decl.unit == "minutes"]
    assert minutes, "the catalogue declares a metric in minutes"
    for decl in minutes:
        name, factor = served_name(decl)
        assert name.endswith("_seconds") and "minutes" not in name and factor == 60.0
    decl = minutes[0]
    snapshot = Snapshot(values=(_value(decl.id, {}, "7d", T0, 12.5),))
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, business="shop", families=catalogue_families(),
                                        scales=catalogue_scales()))
    assert registry.get_sample_value(served_name(decl)[0], {"business": "shop", "window": "7d"}) == 12.5 * 60
    check = subprocess.run([promtool, "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_collector_links_each_kpi_to_the_goals_it_serves() -> None:
    snapshot = _snapshot()
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, business="shop", families=FAMILIES,
                                        kpi_goals=[("csat", "loyal", "customer"), ("csat", "growth", "financial")]))
    for goal, perspective in (("loyal", "customer"), ("growth", "financial")):
        labels = {"business": "shop", "kpi": "csat", "goal": goal, "perspective": perspective}
        assert registry.get_sample_value("alignwatch_kpi_goal_info", labels) == 1.0


def test_background_refresher_prepares_new_snapshots_so_scrapes_never_read_the_store() -> None:
    from prometheus_client.exposition import choose_encoder

    from alignwatch.metrics.exporter import BackgroundRefresher

    published = [_snapshot()]
    reads: list[int] = []

    def loader() -> Snapshot:
        reads.append(1)
        return published[0]

    cache = SnapshotCache(loader, ttl_s=float("inf"))
    collector = SnapshotCollector(cache, business="shop", families=FAMILIES)
    refresher = BackgroundRefresher(cache, collector, interval_s=3600)
    refresher.refresh_once()
    encoder, content_type = choose_encoder("")
    first = collector.exposition(content_type, encoder)
    assert len(reads) == 1
    for _ in range(5):
        assert collector.exposition(content_type, encoder) is first  # served from the prepared bytes
    assert len(reads) == 1
    published[0] = Snapshot(values=(_value("sai", {}, "hour", T0 + dt.timedelta(hours=1), 70.0),))
    refresher.refresh_once()
    assert len(reads) == 2
    assert b'alignwatch_index_sai_score{business="shop",window="hour"} 70.0' in collector.exposition(content_type, encoder)
