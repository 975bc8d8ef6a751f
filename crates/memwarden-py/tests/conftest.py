"""Shared fixtures: pytester for whole pytest runs, and a small C extension built here."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# The suites are run by pytester in their own pytest processes, never collected here.
collect_ignore = ["suites"]

SUITES = Path(__file__).parent / "suites"


@pytest.fixture(scope="session")
def cext(tmp_path_factory) -> Path:
    """A directory holding ``leakyext``, a C extension with a leaking and a clean call, built
    with the system C compiler against this interpreter's headers."""
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        pytest.skip(f"no Python.h in {include}: install the interpreter's -dev package")
    out = tmp_path_factory.mktemp("cext")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    cc = os.environ.get("CC", "cc")
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", f"-I{include}", str(SUITES / "leakyext.c"),
         "-o", str(out / f"leakyext{suffix}")],
        check=True,
    )
    return out


def suite(name: str) -> str:
    """The text of a test suite under tests/suites."""
    return (SUITES / name).read_text()


@pytest.fixture
def run_suite(pytester, cext):
    """Runs a suite file in a fresh pytest process with the given options; the C extension
    is importable from it."""

    def run(name: str, *args: str):
        pytester.makepyfile(**{f"test_{Path(name).stem}": suite(name)})
        pytester.makeini("[pytest]\n")  # no ini of the repository's is picked up
        env_path = os.pathsep.join([str(cext), os.environ.get("PYTHONPATH", "")])
        pytester._monkeypatch.setenv("PYTHONPATH", env_path)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly",
                                             *args, timeout=600)

    return run


assert sys.platform.startswith("linux"), "memwarden reads /proc: Linux only"
