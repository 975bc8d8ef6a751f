"""Tests that leak, one resource each: every one must be found, and named."""

import os
import socket
import threading

import leakyext

CACHE = {}


def test_module_cache_grows():
    # A memo keyed by something new on every call: a cache that never stops filling.
    CACHE[len(CACHE)] = [str(i) for i in range(50)]


HANDLERS = []


def test_closures_pile_up():
    for i in range(20):
        HANDLERS.append(lambda event, i=i: (event, i))


def test_c_extension_leaks():
    leakyext.keep(512 * 1024)


OPEN = []


def test_descriptor_leaks():
    OPEN.append(open(os.devnull))


PAIRS = []


def test_socket_leaks():
    PAIRS.append(socket.socketpair())


def test_thread_leaks():
    threading.Thread(target=threading.Event().wait, daemon=True).start()
