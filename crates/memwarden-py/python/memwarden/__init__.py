"""memwarden: keep a Python program within its memory, and find the code that leaks.

- :class:`Watchdog` watches this process's memory (or a process tree) from a native thread
  that never holds the GIL while it samples, and calls your callbacks when memory crosses a
  warning level or a limit, or when the leak detector calls a leak::

      with memwarden.Watchdog(warn="3GiB", limit="4GiB", interval="1s",
                              on_warn=cleanup, on_limit=stop, on_leak=page):
          run()

- :class:`MemoryGate` admits work by memory: ``with gate.admit("500MiB", timeout=30):``
  waits until the work fits the budget, from threads, a multiprocessing parent, or asyncio
  (``async with gate.admit(...)``).
- :class:`Detector` and :func:`analyze` judge a series or a recorded trace: leak, stable,
  plateau or inconclusive, as the ``memwarden`` command line does.
- The pytest plugin (``pytest --memwarden-leaks``) finds tests that leak.

Sizes are ints of bytes or strings (``"512MiB"``, ``"4G"``, ``"1.5GB"``; thresholds also
``"75%"`` of RAM or of the cgroup limit); durations are seconds or strings (``"250ms"``,
``"2s"``). Linux only: memory is read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import weakref
from typing import Any, Callable, Optional, Sequence, Union

from . import _native
from ._native import (
    Analysis,
    Detector,
    Leak,
    Permit,
    Reading,
    Verdict,
    analyze,
    anon_bytes,
    format_bytes,
    parse_duration,
    parse_size,
    trim,
)
from .errors import (
    AdmissionTimeout,
    GateStopped,
    MemwardenError,
    RequestTooLarge,
    TraceFormatError,
)

__all__ = [
    "AdmissionTimeout",
    "Admission",
    "Analysis",
    "Detector",
    "GateStopped",
    "Leak",
    "MemoryGate",
    "MemwardenError",
    "Permit",
    "Reading",
    "RequestTooLarge",
    "TraceFormatError",
    "Verdict",
    "Watchdog",
    "analyze",
    "anon_bytes",
    "format_bytes",
    "parse_duration",
    "parse_size",
    "trim",
]

Size = Union[int, str]
"""Bytes, or a string like ``"512MiB"``; thresholds also take ``"75%"``."""
Duration = Union[float, int, str]
"""Seconds, or a string like ``"250ms"``."""


def _takes_an_argument(f: Callable[..., Any]) -> bool:
    """Whether ``f`` can be called with one positional argument (else it is called with
    none, so ``on_limit=stop_event.set`` works)."""
    try:
        inspect.signature(f).bind(None)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (some builtins): pass the argument
        return True
    return True


def _adapt(f: Optional[Callable[..., Any]], name: str) -> Optional[Callable[[Any], Any]]:
    if f is None:
        return None
    if not callable(f):
        raise TypeError(f"{name}: expected a callable, got {type(f).__name__}")
    if _takes_an_argument(f):
        return f
    return lambda _event: f()


# Watchdogs still running when the interpreter exits are stopped first, so that no native
# thread tries to call back into an interpreter that is shutting down.
_running: "weakref.WeakSet[Watchdog]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for w in list(_running):
        w.stop()


class Watchdog:
    """Watches memory from a native thread and calls back on thresholds and leaks.

    The thread reads this process's anonymous memory (resident minus file-backed pages, plus
    swap: what a leak grows) every ``interval`` without taking the GIL; it takes the GIL only
    to run a callback, on the watchdog thread. Each threshold fires once per crossing and
    re-arms when memory falls below ``rearm_below`` x the threshold (90 %), so memory hovering
    at the line does not run a cleanup on every sample. A callback that raises is reported
    through ``sys.unraisablehook`` and watching goes on. Callbacks receive a :class:`Reading`
    (``on_leak`` a :class:`Leak`), or nothing if they take no argument.

    Args:
        warn: size or percentage (of the cgroup limit, else RAM) that calls ``on_warn``.
        limit: size or percentage that calls ``on_limit``: the place to stop work or exit.
        interval: time between readings (default 100 ms).
        on_warn, on_limit: called on crossing ``warn``, ``limit``.
        on_leak: called once, when the streaming leak detector calls a leak on the floor of
            the watched memory (a steady rise; not a sawtooth, not a cache that fills).
        leak_after: how long a steady rise must last before ``on_leak`` is called (default
            6 minutes: a cache that fills at a steady pace looks like a leak until it stops,
            and real ones fill for minutes; shorten it where no such cache can be).
        tree: watch these processes and all their descendants (summed) instead of this one;
            ``tree=os.getpid()`` includes this process's children.
        rearm_below: hysteresis fraction in (0, 1].
        trim: return freed heap memory to the OS after each callback (glibc ``malloc_trim``),
            so the next reading shows what a cleanup freed.

    Example::

        >>> import memwarden, threading
        >>> crossed = threading.Event()
        >>> with memwarden.Watchdog(warn=1, interval="10ms", on_warn=crossed.set) as w:
        ...     crossed.wait(10)
        True
    """

    def __init__(
        self,
        *,
        warn: Optional[Size] = None,
        limit: Optional[Size] = None,
        interval: Duration = 0.1,
        on_warn: Optional[Callable[..., Any]] = None,
        on_limit: Optional[Callable[..., Any]] = None,
        on_leak: Optional[Callable[..., Any]] = None,
        leak_after: Optional[Duration] = None,
        tree: Union[int, Sequence[int], None] = None,
        rearm_below: float = 0.9,
        trim: bool = False,
    ) -> None:
        if isinstance(tree, int):
            tree = [tree]
        self._native = _native.Watchdog(
            warn=warn,
            limit=limit,
            interval=interval,
            on_warn=_adapt(on_warn, "on_warn"),
            on_limit=_adapt(on_limit, "on_limit"),
            on_leak=_adapt(on_leak, "on_leak"),
            leak_after=leak_after,
            tree=None if tree is None else list(tree),
            rearm_below=rearm_below,
            trim=trim,
        )

    def start(self) -> "Watchdog":
        """Starts watching (``RuntimeError`` if already started); returns self."""
        self._native.start()
        _running.add(self)
        return self

    def stop(self) -> None:
        """Stops watching and waits for the thread; safe from a callback and when stopped."""
        self._native.stop()
        _running.discard(self)

    def __enter__(self) -> "Watchdog":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the thread is watching."""
        return self._native.running

    @property
    def latest(self) -> Optional[Reading]:
        """The most recent reading, or None before the first (or when stopped)."""
        return self._native.latest

    @property
    def peak(self) -> Optional[Reading]:
        """The highest reading since ``start()`` (spikes between readings are not seen)."""
        return self._native.peak

    @property
    def leak(self) -> Optional[Leak]:
        """The leak the detector called, if it has."""
        return self._native.leak

    @property
    def warn_bytes(self) -> Optional[int]:
        """The warning threshold in bytes, resolved at ``start()``."""
        return self._native.warn_bytes

    @property
    def limit_bytes(self) -> Optional[int]:
        """The limit in bytes, resolved at ``start()``."""
        return self._native.limit_bytes

    @property
    def interval(self) -> float:
        """Seconds between readings."""
        return self._native.interval

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<memwarden.Watchdog {state}, every {self.interval:g} s, latest {self.latest}>"


class Admission:
    """What :meth:`MemoryGate.admit` returns: use it with ``with`` or ``async with``; either
    gives the :class:`Permit` and gives it back at the end of the block."""

    def __init__(self, gate: "MemoryGate", size: Size, timeout: Optional[Duration]) -> None:
        self._gate = gate
        self._size = size
        self._timeout = timeout
        self._permit: Optional[Permit] = None

    def __enter__(self) -> Permit:
        self._permit = self._gate.acquire(self._size, timeout=self._timeout)
        return self._permit

    def __exit__(self, *exc: Any) -> None:
        if self._permit is not None:
            self._permit.release()

    async def __aenter__(self) -> Permit:
        self._permit = await self._gate.acquire_async(self._size, timeout=self._timeout)
        return self._permit

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__()


class MemoryGate:
    """Admission control by memory: at most ``budget`` of estimated work in flight at once.

    Work asks for an estimate of the memory it will need and waits while the budget is taken
    (and, with ``system_floor``, while the machine's available memory is below the floor).
    Requests are served first come, first served, whether they wait in threads or in asyncio
    tasks, so a large one is not starved by small ones. The gate counts estimates, not pages.
    A wait without a timeout can be interrupted by Ctrl-C; a cancelled asyncio task leaves the
    line. One gate serves one process: in a ``multiprocessing`` program, admit in the parent
    before handing work to a child, and release when the child's result is back.

    Args:
        budget: a size, or a percentage of the cgroup limit (else RAM), e.g. ``"50%"``.
        system_floor: also wait while the machine's available memory, less the request,
            would fall below this size or percentage of RAM.

    Example::

        >>> import memwarden
        >>> gate = memwarden.MemoryGate("1GiB")
        >>> with gate.admit("256MiB", timeout=30) as permit:
        ...     gate.in_use == permit.size == 256 << 20
        True
        >>> gate.in_use
        0
    """

    def __init__(self, budget: Size, *, system_floor: Optional[Size] = None) -> None:
        self._native = _native.MemoryGate(budget, system_floor=system_floor)

    def admit(self, size: Size, timeout: Optional[Duration] = None) -> Admission:
        """Admission of ``size`` for a ``with`` or ``async with`` block. Raises
        :class:`AdmissionTimeout` (a ``TimeoutError``) after ``timeout``,
        :class:`RequestTooLarge` (a ``ValueError``) for a request above the budget, and
        :class:`GateStopped` after :meth:`emergency_stop`."""
        return Admission(self, size, timeout)

    def acquire(self, size: Size, timeout: Optional[Duration] = None) -> Permit:
        """Waits (without the GIL) until ``size`` fits; the permit gives it back on
        ``release()`` (for work whose end is signalled elsewhere, e.g. a pool callback)."""
        return self._native.acquire(size, timeout=timeout)

    def try_acquire(self, size: Size) -> Optional[Permit]:
        """A permit if ``size`` fits now and nobody waits, else None."""
        return self._native.try_acquire(size)

    async def acquire_async(self, size: Size, timeout: Optional[Duration] = None) -> Permit:
        """Waits in asyncio until ``size`` fits; cancelling the task leaves the line."""
        permit = self._native.try_acquire(size)
        if permit is not None:
            return permit
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[Permit]" = loop.create_future()

        def settle(result: Any) -> None:
            if future.done():  # cancelled meanwhile: give back what came too late
                if isinstance(result, Permit):
                    result.release()
            elif isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        def done(result: Any) -> None:  # on the gate's thread
            try:
                loop.call_soon_threadsafe(settle, result)
            except RuntimeError:  # the loop is closed
                if isinstance(result, Permit):
                    result.release()

        request = self._native.acquire_later(size, done, timeout=timeout)
        try:
            return await future
        except asyncio.CancelledError:
            request.cancel()
            raise

    def suggested_workers(self, per_task: Size) -> int:
        """How many workers of ``per_task`` each fit in the budget (and above the system
        floor): between 1 and the number of CPUs. What S1's runner computed by hand."""
        return self._native.suggested_workers(per_task)

    def emergency_stop(self) -> None:
        """Refuses every waiting and every later request with :class:`GateStopped`."""
        self._native.emergency_stop()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`emergency_stop` was called."""
        return self._native.stopped

    @property
    def budget(self) -> int:
        """The budget, bytes."""
        return self._native.budget

    @property
    def in_use(self) -> int:
        """Bytes granted and not yet given back."""
        return self._native.in_use

    @property
    def waiting(self) -> int:
        """Requests waiting in line now."""
        return self._native.waiting

    def __repr__(self) -> str:
        return repr(self._native)

