"""Process pools whose workers die with the process that started them.

A ``ProcessPoolExecutor`` worker blocks on a queue whose write end its siblings also hold, so when the
parent is killed (``kill -9``, an out-of-memory kill) nothing tells the workers: they finish their
chunk, keep writing files and then wait forever (issue 23.15). Each worker here asks Linux to send it
SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread polls the
parent's pid. multiprocessing's resource-tracker helper exits by itself once no process holds its
pipe, i.e. once the parent and the workers are gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
PARENT_POLL_S = 0.5


def _exit_if_orphaned(parent_pid: int) -> None:
    if os.getppid() != parent_pid:
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while True:
        _exit_if_orphaned(parent_pid)
        time.sleep(PARENT_POLL_S)


def _kill_me_with_parent() -> bool:
    """Linux: have the kernel SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when process ``parent_pid`` (its parent) is gone."""
    if not _kill_me_with_parent():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    _exit_if_orphaned(parent_pid)  # the parent may have died before the request took effect


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes (not forked: the parent may hold torch / OpenMP threads that a
    fork would copy half-alive) that die with this process.

    Linux sends the death signal when the *thread* that started a worker ends; the pool starts its
    workers from the thread that submits the work, which waits on the pool while it is in use."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
