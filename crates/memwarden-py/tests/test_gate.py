"""MemoryGate from threads, asyncio and a multiprocessing parent."""

import asyncio
import multiprocessing
import os
import signal
import threading
import time

import pytest

import memwarden

MIB = 1 << 20
DEADLINE = 30.0


def wait_for(what, done):
    end = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_admit_gives_back_at_the_end_of_the_block():
    gate = memwarden.MemoryGate("1GiB")
    with gate.admit("256MiB") as permit:
        assert permit.size == 256 * MIB and gate.in_use == 256 * MIB
    assert gate.in_use == 0 and permit.released
    assert gate.budget == 1 << 30


def test_threads_never_exceed_the_budget_and_all_get_through():
    gate = memwarden.MemoryGate("100MiB")
    peak, lock, done = [0], threading.Lock(), []

    def work(i):
        with gate.admit(f"{10 + i % 3 * 20}MiB", timeout=DEADLINE):
            with lock:
                peak[0] = max(peak[0], gate.in_use)
            time.sleep(0.002)
        done.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert len(done) == 40 and 0 < peak[0] <= 100 * MIB and gate.in_use == 0


def test_a_timeout_is_a_timeout_error_and_leaves_the_line():
    gate = memwarden.MemoryGate("10MiB")
    with gate.admit("8MiB"):
        with pytest.raises(TimeoutError) as e:
            with gate.admit("4MiB", timeout="50ms"):
                pass
        assert isinstance(e.value, memwarden.AdmissionTimeout)
        assert gate.waiting == 0
    assert gate.try_acquire("10MiB") is not None


def test_first_come_first_served_across_threads():
    gate = memwarden.MemoryGate("10MiB")
    order = []
    held = gate.acquire("10MiB")

    def wait(name, size):
        with gate.admit(size, timeout=DEADLINE):
            order.append(name)

    big = threading.Thread(target=wait, args=("big", "10MiB"))
    big.start()
    wait_for("the big request in line", lambda: gate.waiting == 1)
    small = threading.Thread(target=wait, args=("small", "1MiB"))
    small.start()
    wait_for("both in line", lambda: gate.waiting == 2)
    assert gate.try_acquire(1) is None  # nobody jumps the line
    held.release()
    big.join(DEADLINE)
    small.join(DEADLINE)
    assert order == ["big", "small"]


def test_a_request_above_the_budget_is_a_value_error():
    gate = memwarden.MemoryGate("1MiB")
    with pytest.raises(ValueError, match="never admits more than 1.0 MiB"):
        gate.acquire("2MiB")
    with pytest.raises(memwarden.RequestTooLarge):
        gate.try_acquire(2 * MIB)


def test_emergency_stop_wakes_the_waiting_and_refuses_the_rest():
    gate = memwarden.MemoryGate("1MiB")
    held = gate.acquire("1MiB")
    errors = []

    def wait():
        try:
            gate.acquire("1MiB")
        except memwarden.GateStopped as e:
            errors.append(e)

    t = threading.Thread(target=wait)
    t.start()
    wait_for("the waiter", lambda: gate.waiting == 1)
    gate.emergency_stop()
    t.join(DEADLINE)
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError) and gate.stopped
    with pytest.raises(memwarden.GateStopped):
        gate.try_acquire(1)
    held.release()


def test_ctrl_c_interrupts_a_blocking_wait():
    gate = memwarden.MemoryGate("1MiB")
    held = gate.acquire("1MiB")
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        gate.acquire("1MiB")
    wait_for("the line to empty", lambda: gate.waiting == 0)
    held.release()
    assert gate.in_use == 0


def test_async_with_waits_without_blocking_the_loop():
    gate = memwarden.MemoryGate("10MiB")

    async def main():
        ticks = 0
        held = gate.acquire("10MiB")

        async def worker():
            async with gate.admit("6MiB", timeout=DEADLINE) as permit:
                return permit.size

        task = asyncio.ensure_future(worker())
        while gate.waiting == 0:
            await asyncio.sleep(0.001)
        for _ in range(20):  # the loop runs while the worker waits
            await asyncio.sleep(0.001)
            ticks += 1
        held.release()
        return await task, ticks

    size, ticks = asyncio.run(main())
    assert size == 6 * MIB and ticks == 20 and gate.in_use == 0


def test_a_cancelled_task_leaves_the_line_and_an_async_timeout_raises():
    gate = memwarden.MemoryGate("10MiB")

    async def main():
        held = gate.acquire("10MiB")
        task = asyncio.ensure_future(gate.acquire_async("5MiB"))
        while gate.waiting == 0:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while gate.waiting:
            await asyncio.sleep(0.001)
        with pytest.raises(memwarden.AdmissionTimeout):
            async with gate.admit("5MiB", timeout=0.05):
                pass
        held.release()

    asyncio.run(main())
    assert gate.in_use == 0 and gate.waiting == 0


def square(n):
    return n * n


def test_a_multiprocessing_parent_admits_before_each_child_task():
    gate = memwarden.MemoryGate("64MiB")
    workers = gate.suggested_workers("16MiB")
    assert 1 <= workers <= min(4, os.cpu_count())
    results, peak = [], [0]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pending = []
        for n in range(12):
            permit = gate.acquire("16MiB", timeout=DEADLINE)
            peak[0] = max(peak[0], gate.in_use)

            def done(result, permit=permit):
                results.append(result)
                permit.release()

            pending.append(pool.apply_async(square, (n,), callback=done))
        for p in pending:
            p.get(DEADLINE)
    wait_for("every permit back", lambda: gate.in_use == 0)
    assert sorted(results) == [n * n for n in range(12)] and peak[0] <= 64 * MIB


@pytest.mark.parametrize(
    "budget, error",
    [("lots", ValueError), (0, ValueError), ("200%", ValueError), (1.5, TypeError)],
)
def test_bad_budgets_are_refused(budget, error):
    with pytest.raises(error):
        memwarden.MemoryGate(budget)


def test_a_percentage_budget_and_a_system_floor():
    gate = memwarden.MemoryGate("10%", system_floor="1%")
    assert gate.budget > 0
    with gate.admit("1MiB"):
        assert gate.in_use == MIB
