"""The exceptions memwarden raises, each also an instance of the built-in it means.

>>> import memwarden
>>> issubclass(memwarden.AdmissionTimeout, TimeoutError)
True
"""


class MemwardenError(Exception):
    """Base class of memwarden's own exceptions."""


class AdmissionTimeout(MemwardenError, TimeoutError):
    """A MemoryGate admission did not come before its timeout."""


class GateStopped(MemwardenError, RuntimeError):
    """The MemoryGate was stopped (``emergency_stop()``): it admits nothing any more."""


class RequestTooLarge(MemwardenError, ValueError):
    """The request is larger than the gate could ever admit at once (its budget, or less
    under a system floor): an error rather than a wait that never ends."""


class TraceFormatError(MemwardenError, ValueError):
    """A recorded trace could not be read: the message names the line and what is wrong."""
