"""Developer sessions: tests per package, lint, typecheck, benchmarks, science and the demo.

`nox` (no arguments) runs the default sessions: every package's tests, lint, typecheck and the
metric parity check against pysodmetrics (sodparity). That is the README's test command and what
`.ci/run` runs.

Torch is heavy (5.5 GB), so it is installed once into a shared base environment (`.nox/_torch`) and each
session reaches it through a `.pth` file, with that environment's versions passed to pip as
constraints so no session ever upgrades or replaces them. Nothing else leaks into a session: a
package's tests see only that package, core, its declared dependencies and torch's own dependencies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES: dict[str, str] = {
    "core": "packages/core",
    "saliency": "saliency",
    "augment": "augment",
    "ssl_methods": "ssl_methods",
    "evals": "evals",
    "launch": "packages/launch",
}


def _siblings(package: str) -> list[str]:
    """The bgaug packages ``package``'s pyproject.toml depends on (pip cannot find them on PyPI, so
    they are installed by path): read from the file, so it is the one place they are listed."""
    import tomllib

    project = tomllib.loads((ROOT / PACKAGES[package] / "pyproject.toml").read_text(encoding="utf-8"))
    distributions = {f"bgaug-{name.replace('_', '-')}": name for name in PACKAGES}
    names = [re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0] for dep in project["project"]["dependencies"]]
    return [distributions[name] for name in names if name in distributions]


SIBLINGS: dict[str, list[str]] = {package: _siblings(package) for package in PACKAGES}
# Extras each package's test session installs beside "test": the CRF binding compiles in about a
# minute, and without it the tests of fit's CRF path would skip.
TEST_EXTRAS: dict[str, str] = {"saliency": "test,crf"}
TORCH_PINS = ["torch==2.14.1", "torchvision==0.29.1"]
TORCH_ENV = ROOT / ".nox" / "_torch"

nox.options.sessions = ["tests", "lint", "typecheck", "sodparity"]  # README test command: `nox`
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def _torch_site_packages() -> Path:
    """Create the shared torch environment once and return its site-packages directory."""
    python = TORCH_ENV / "bin" / "python"
    marker = TORCH_ENV / "ready.json"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(TORCH_ENV)], check=True)
        pins = os.environ.get("BGAUG_TORCH_PINS", " ".join(TORCH_PINS)).split()
        subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
        marker.write_text(json.dumps({"pins": pins}))
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def _use_torch(session: nox.Session) -> list[str]:
    """Link the shared torch environment into this session; return pip constraint arguments."""
    site = _torch_site_packages()
    own_site = subprocess.run(
        [
            str(Path(session.bin) / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(own_site) / "_bgaug_torch_base.pth").write_text(str(site) + "\n")
    freeze = subprocess.run(
        [str(TORCH_ENV / "bin" / "python"), "-m", "pip", "freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    constraints = Path(session.create_tmp()) / "torch-constraints.txt"
    constraints.write_text(freeze)
    return ["-c", str(constraints)]


def _install(session: nox.Session, *packages: str, extras: str = "test") -> None:
    """Install ``packages`` (with ``extras``) and their sibling dependencies, by local path."""
    constraints = _use_torch(session)
    # "./" makes pip read a local path: a bare "evals[test]" is a PyPI requirement (and one exists).
    wanted: dict[str, str] = {}
    for name in packages:
        for sibling in SIBLINGS[name]:
            wanted.setdefault(sibling, f"./{PACKAGES[sibling]}")
        wanted[name] = f"./{PACKAGES[name]}[{extras}]" if extras else f"./{PACKAGES[name]}"
    session.install(*constraints, *wanted.values())


@nox.session
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests with only that package, core and its declared dependencies."""
    _install(session, package, extras=TEST_EXTRAS.get(package, "test"))
    session.run("pytest", PACKAGES[package] + "/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy (strict) over every package, installed together."""
    _install(session, *PACKAGES, extras="test")
    session.install("mypy>=1.11", "nox")  # nox for the noxfile's own types
    session.run("mypy", *[f"{path}/src" for path in PACKAGES.values()], "noxfile.py")


@nox.session
def sodparity(session: nox.Session) -> None:
    """Saliency metrics against pysodmetrics (its numpy / scikit-image pins need their own session)."""
    _install(session, "saliency")
    session.install("pysodmetrics==1.6.2")  # the version the parity test was written against
    session.run("python", "-c", "import py_sod_metrics")  # the test skips without it; here that must fail
    session.run("pytest", "saliency/tests", "-k", "pysod", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks that print ratios measured in one run (augment, ssl_methods, saliency, evals, and
    launch's end-to-end data path against the bare step: on a GPU, the issue #9 measurement)."""
    _install(session, "augment", "ssl_methods", "saliency", "evals", "launch", extras="")
    out = Path(session.create_tmp())
    for package in ("augment", "ssl_methods", "saliency", "evals"):
        session.run("python", "-m", f"bgaug.{package}", "bench", "--json", str(out / f"{package}.json"))
    session.run("python", "-m", "bgaug.launch.bench", "--json", str(out / "launch.json"))


@nox.session
def demo(session: nox.Session) -> None:
    """`bgaug demo` (pass `-- --quick` for the 3-minute version)."""
    _install(session, "launch", extras="")
    session.run("bgaug", "demo", "--out", "runs/demo", *session.posargs)


@nox.session
def science(session: nox.Session) -> None:
    """The demo at 3 seeds with longer schedules and controls; prints the paper's claims checked."""
    _install(session, "launch", extras="")
    session.run("bgaug", "demo", "--preset", "science", "--out", "runs/science", *session.posargs)
