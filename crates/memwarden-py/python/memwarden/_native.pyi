"""Types of the native module; the public API is re-exported by ``memwarden``."""

from datetime import timedelta
from os import PathLike
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple, Union

_Size = Union[int, str]
_Duration = Union[float, int, str, timedelta]

class Reading:
    """One measurement of the watched memory."""

    @property
    def bytes(self) -> int:
        """The watched anonymous memory, bytes."""
    @property
    def elapsed(self) -> float:
        """Seconds since the watchdog started."""

class Leak:
    """A leak called by the detector on the watched memory."""

    @property
    def growth_bytes_per_s(self) -> float: ...
    @property
    def reason(self) -> str: ...

class Watchdog:
    def __init__(
        self,
        *,
        warn: Optional[_Size] = None,
        limit: Optional[_Size] = None,
        interval: Optional[_Duration] = None,
        on_warn: Optional[Callable[[Reading], Any]] = None,
        on_limit: Optional[Callable[[Reading], Any]] = None,
        on_leak: Optional[Callable[[Leak], Any]] = None,
        leak_after: Optional[_Duration] = None,
        tree: Optional[Sequence[int]] = None,
        rearm_below: float = 0.9,
        trim: bool = False,
    ) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def latest(self) -> Optional[Reading]: ...
    @property
    def peak(self) -> Optional[Reading]: ...
    @property
    def leak(self) -> Optional[Leak]: ...
    @property
    def warn_bytes(self) -> Optional[int]: ...
    @property
    def limit_bytes(self) -> Optional[int]: ...
    @property
    def interval(self) -> float: ...

class Permit:
    """A grant of memory from a MemoryGate."""

    @property
    def size(self) -> int:
        """The bytes this permit holds."""
    @property
    def released(self) -> bool:
        """Whether it was given back."""
    def release(self) -> None:
        """Gives the bytes back (once; later calls do nothing)."""
    def __enter__(self) -> "Permit": ...
    def __exit__(self, *exc: Any) -> bool: ...

class Request:
    def cancel(self) -> None: ...

class MemoryGate:
    def __init__(self, budget: _Size, *, system_floor: Optional[_Size] = None) -> None: ...
    def acquire(self, size: _Size, timeout: Optional[_Duration] = None) -> Permit: ...
    def try_acquire(self, size: _Size) -> Optional[Permit]: ...
    def acquire_later(
        self,
        size: _Size,
        done: Callable[[Union[Permit, BaseException]], Any],
        timeout: Optional[_Duration] = None,
    ) -> Request: ...
    def suggested_workers(self, per_task: _Size) -> int: ...
    def emergency_stop(self) -> None: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def budget(self) -> int: ...
    @property
    def in_use(self) -> int: ...
    @property
    def waiting(self) -> int: ...

class Verdict:
    """The detector's conclusion about one series."""

    @property
    def kind(self) -> str:
        """``"leak"``, ``"stable"``, ``"plateau"`` or ``"inconclusive"``."""
    @property
    def growth_per_s(self) -> float: ...
    @property
    def growth_ci_per_s(self) -> Tuple[float, float]: ...
    @property
    def detected_at_s(self) -> Optional[float]: ...
    @property
    def rising(self) -> bool:
        """Whether the floor is rising steadily now (before a leak can be called, too)."""
    @property
    def revised_at_s(self) -> Optional[float]:
        """When a leak call was taken back: the floor levelled off (a cache that filled)."""
    @property
    def time_to_limit_s(self) -> Optional[float]: ...
    @property
    def reason(self) -> str: ...
    @property
    def is_leak(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

class Detector:
    """The streaming leak detector over one ``(t_seconds, value)`` series.

    ``unit`` is ``"bytes"`` or, for a count, its plural noun (``"threads"``); keyword
    arguments override the detector's knobs (``warmup_s``, ``min_span_s``, ``first_look_s``,
    ``min_points``, ``min_rate_per_s``, ``min_relative_rate_per_h``, ``min_rise_s``,
    ``significance``, ``min_half_ratio``, ``bucket_s``, ``max_buckets``, ``warmup_fraction``).

    >>> from memwarden import Detector
    >>> d = Detector()
    >>> d.extend((t, (10 << 20) + t * (1 << 20)) for t in range(60))
    >>> d.verdict().rising
    True
    >>> d.final_verdict().kind
    'leak'
    """

    def __init__(self, unit: str = "bytes", **knobs: float) -> None: ...
    def push(self, t: float, value: float) -> None: ...
    def extend(self, points: Iterable[Tuple[float, float]]) -> None: ...
    def verdict(self, limit: Optional[Union[_Size, float]] = None) -> Verdict:
        """The live verdict: what to act on while the series goes on."""
    def final_verdict(self, limit: Optional[Union[_Size, float]] = None) -> Verdict:
        """The final verdict over the whole series, once it has ended."""
    @property
    def kind(self) -> str: ...
    @property
    def samples(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    def floor(self) -> list[Tuple[float, float]]: ...

class Analysis:
    """A recorded trace judged by ``analyze()``."""

    path: str
    format: str
    column: str
    in_bytes: bool
    samples: int
    zero_rows: int
    duration_s: float
    start: float
    end: float
    peak: float
    peak_at_s: float
    points: list[Tuple[float, float]]
    verdict: Verdict

def analyze(
    path: Union[str, "PathLike[str]"],
    column: Optional[str] = None,
    *,
    limit: Optional[Union[_Size, float]] = None,
    **knobs: float,
) -> Analysis:
    """Judges a recorded trace (CSV, psrecord or mprof) as ``memwarden analyze`` does."""

def parse_size(value: _Size, /) -> int: ...
def parse_duration(value: _Duration, /) -> float: ...
def format_bytes(n: float, /) -> str: ...
def anon_bytes() -> int: ...
def resource_counts() -> Tuple[int, int, int]: ...
def trim() -> bool: ...
