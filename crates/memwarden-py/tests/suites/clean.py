"""Tests that allocate, open and start a lot but keep nothing: none may fail."""

import asyncio
import functools
import gc
import logging
import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

import leakyext

FILLED = {}


def test_cache_filled_during_warm_up():
    # Three entries, then full: the warm-up runs fill it.
    if len(FILLED) < 3:
        FILLED[len(FILLED)] = bytearray(1 << 20)


@functools.lru_cache(maxsize=4)
def square(n):
    return [n * n] * 100


def test_bounded_lru_cache():
    for n in range(10):
        square(n)


def test_garbage_collected_churn():
    for _ in range(300):
        a = {"payload": bytearray(2000)}
        b = {"a": a}
        a["b"] = b  # a cycle: only the collector frees it
    gc.collect()


def test_large_temporary_allocation():
    big = bytearray(64 << 20)
    big[::4096] = b"x" * len(big[::4096])
    del big


def test_c_extension_frees_what_it_takes():
    for _ in range(20):
        leakyext.churn(512 * 1024)


def test_files_opened_and_closed(tmp_path):
    for i in range(20):
        with open(tmp_path / f"f{i}", "w") as f:
            f.write("x" * 10_000)


def test_threads_started_and_joined():
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(lambda x: x * 2, range(100))) == 9900
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()


def test_event_loop_run_and_closed():
    async def main():
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(50)))
        return 1

    assert asyncio.run(main()) == 1


def test_output_logging_and_warnings(capsys, caplog):
    print("a line of output " * 50)
    logging.getLogger("clean").warning("a warning record")
    warnings.warn("a deprecation", DeprecationWarning)
    assert "output" in capsys.readouterr().out


def test_new_regular_expressions_each_run():
    assert re.match(f"x{os.getpid()}[0-9]+", f"x{os.getpid()}123")


@pytest.fixture(scope="module")
def shared_resource():
    sock_r, sock_w = os.pipe()
    yield (sock_r, sock_w)
    os.close(sock_r)
    os.close(sock_w)


def test_module_fixture_used(shared_resource, tmp_path):
    assert len(shared_resource) == 2


def test_user_properties(record_property):
    record_property("size", "x" * 1000)


@pytest.mark.parametrize("n", [1, 10, 100])
def test_parametrized(n):
    assert len([0] * n) == n


class TestGrouped:
    def test_method(self):
        assert {i: i for i in range(1000)}
