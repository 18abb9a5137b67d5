#!/usr/bin/env python3
"""Set up and run kretslopp from a fresh clone, with nothing but Python >= 3.11.

    python3 infra/bootstrap.py up      # install, then run broker + PostgreSQL + worker + API
    python3 infra/bootstrap.py test    # install with test tools, then lint, type-check, test

It creates ``.venv`` in the project root, installs the project with the exact versions in
``constraints.txt`` (the set the test suite passed with), and skips the install when nothing
changed since the last one. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("KRETSLOPP_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def _install(extras: str) -> None:
    if not PYTHON.exists():
        _say(f"creating virtual environment {VENV}")
        venv.create(VENV, with_pip=True)
    inputs = b"".join((ROOT / name).read_bytes() for name in ("pyproject.toml", "constraints.txt"))
    stamp = VENV / f".kretslopp-installed{extras}"
    digest = hashlib.sha256(inputs + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    _say("installing pinned dependencies (constraints.txt); this takes a minute the first time")
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            "-e",
            f"{ROOT}{extras}",
        ],
        check=True,
    )
    stamp.write_text(digest)


def _browser() -> None:
    """Debian's Chromium and ChromeDriver for the dashboard tests: installed when missing and
    this user may (root with apt-get); otherwise those tests are skipped and say why."""
    if all(shutil.which(name) for name in ("chromium", "chromedriver")):
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        _say("Chromium/ChromeDriver missing and not installable here: browser tests will skip")
        return
    _say("installing Debian's chromium and chromium-driver for the dashboard tests")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> int:
        return subprocess.run(
            ["apt-get", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode

    packages = ("install", "-y", "-q", "chromium", "chromium-driver")
    if apt(*packages) != 0 and (apt("update", "-q") or apt(*packages)) != 0:
        _say("apt-get could not install chromium: browser tests will skip")


def _run(*argv: str) -> int:
    _say(" ".join(argv))
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ROOT).returncode


def main(args: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - runs under whatever python3 is first
        _say(f"Python >= 3.11 is required; this is {sys.version.split()[0]}")
        return 2
    if not args or args[0] not in ("up", "test"):
        print(__doc__)
        return 2
    command, rest = args[0], args[1:]
    if command == "up":
        _install("")
        os.execv(str(BIN / "kretslopp"), [str(BIN / "kretslopp"), "up", *rest])
    _install("[dev]")
    _browser()
    for step in (
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
        ("lint-imports",),  # the layering contract in pyproject.toml
    ):
        if _run(*step) != 0:
            return 1
    return _run("pytest", *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
