#!/usr/bin/env python3
"""VRAM leases on one host: the reference client for Python workers (standard library only).

Time-shared workers (residency onDemand or manual, docs/timeshare.md) take a lease of their VRAM on
their GPU before they load a model, wait while the GPU has no room, and release it when they unload.
Leases live in the host's lease directory (GPU_FLEET_LEASE_DIR, /run/gpu-fleet/leases), which the
container-toolkit role creates and every time-shared container mounts at the same path:

    gpu<N>.lock             one per GPU: taken (flock, exclusive) only while deciding whether a lease fits
    gpu<N>.<holder>.lease   one per holder: one line `gpu=0 holder=... mib=3584 since=<epoch s.µs> pid=...`;
                            the holder keeps an exclusive flock on it for as long as it holds the VRAM

Liveness comes from the kernel: a lease counts only while its file is locked, and the kernel drops
the lock when the last process holding the file descriptor exits, however it dies (SIGKILL, OOM
kill, container stop). A crashed worker's lease is gone with its process; its file is removed by the
next client that looks.

In a worker:

    from gpu_lease import acquire
    with acquire() as lease:          # blocks until the GPU has room; the job stays queued meanwhile
        model = load_model()
        ...                           # run jobs until idle for GPU_FLEET_IDLE_UNLOAD_SECONDS
    # the lease is released here; release the VRAM first (end the process that holds the CUDA context)

The defaults come from the worker contract env: GPU_FLEET_GPU, GPU_FLEET_VRAM_MIB,
GPU_FLEET_LEASE_CAPACITY_MIB, GPU_FLEET_LEASE_DIR and WORKER_NAME (the holder).

Command line (the same file format as scripts/lease/gpu-lease.sh):

    gpu_lease.py hold [--gpu N] [--mib M] [--capacity C] [--holder H] [--dir D] [--timeout S] -- CMD...
    gpu_lease.py list [--dir D]
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import glob
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

DEFAULT_DIR = "/run/gpu-fleet/leases"
POLL_SECONDS = 0.1
HOLDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class LeaseError(Exception):
    """A lease that can never be had (bad input, missing directory, a holder name in use)."""


class LeaseTimeout(LeaseError):
    """No room within the timeout; `holders` are the live leases at the last look."""

    def __init__(self, message: str, holders: List[Dict[str, str]]):
        super().__init__(message)
        self.holders = holders


@dataclass
class Lease:
    gpu: int
    holder: str
    mib: int
    since: float
    path: str
    fd: int

    def release(self) -> None:
        """Gives the VRAM back. Unlink first, so no one reads an unlocked file as a live lease."""
        if self.fd < 0:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def parse_line(line: str) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    for word in line.split():
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return fields


def _env_int(name: str, given: Optional[int]) -> int:
    if given is not None:
        return given
    value = os.environ.get(name)
    if value is None or not value.isdigit():
        raise LeaseError(f"{name} is {'unset' if value is None else repr(value)}: pass it, or run inside a time-shared worker (docs/timeshare.md)")
    return int(value)


def _open_mutex(directory: str, gpu: int) -> int:
    path = os.path.join(directory, f"gpu{gpu}.lock")
    try:
        # flock needs no write access: read-only works for every uid once the file exists.
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as e:
        raise LeaseError(f"cannot open {path}: {e.strerror}; the lease directory must exist and be writable (the container-toolkit role creates it, containers mount it)") from e
    try:
        os.fchmod(fd, 0o666)
    except OSError:
        pass  # created by another uid: already 0666
    return fd


def live_leases(directory: str, gpu: Optional[int] = None, clean: bool = False, skip: Optional[str] = None) -> List[Dict[str, str]]:
    """The leases whose holder is alive (file locked). With clean, removes the files of dead holders."""
    pattern = f"gpu{gpu}.*.lease" if gpu is not None else "gpu*.*.lease"
    found: List[Dict[str, str]] = []
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), pattern))):
        if path == skip:
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                with os.fdopen(os.dup(fd), "r") as f:
                    fields = parse_line(f.readline())
                if "mib" in fields:
                    found.append(fields)
                continue
            # Nobody holds it: a released or dead holder's file.
            if clean:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        finally:
            os.close(fd)
    return found


def describe(holders: List[Dict[str, str]]) -> str:
    if not holders:
        return "no one"
    now = time.time()
    parts = []
    for h in holders:
        since = float(h.get("since", "0") or 0)
        parts.append(f"{h.get('holder', '?')} holds {h.get('mib', '?')} MiB (for {max(0, int(now - since))} s)")
    return ", ".join(parts)


def acquire(
    mib: Optional[int] = None,
    gpu: Optional[int] = None,
    capacity: Optional[int] = None,
    holder: Optional[str] = None,
    directory: Optional[str] = None,
    timeout: Optional[float] = None,
    on_wait: Optional[Callable[[List[Dict[str, str]]], None]] = None,
    poll: float = POLL_SECONDS,
) -> Lease:
    """Takes a lease of `mib` on `gpu`, waiting until the live leases leave room (timeout None: forever)."""
    mib = _env_int("GPU_FLEET_VRAM_MIB", mib)
    gpu = _env_int("GPU_FLEET_GPU", gpu)
    capacity = _env_int("GPU_FLEET_LEASE_CAPACITY_MIB", capacity)
    holder = holder if holder is not None else os.environ.get("WORKER_NAME", "")
    directory = directory if directory is not None else os.environ.get("GPU_FLEET_LEASE_DIR", DEFAULT_DIR)
    if not HOLDER_RE.match(holder):
        raise LeaseError(f"holder {holder!r} must be letters, digits, '-' or '_' (WORKER_NAME)")
    if mib < 1:
        raise LeaseError(f"a lease needs at least 1 MiB, got {mib}")
    if mib > capacity:
        raise LeaseError(f"{holder} wants {mib} MiB but GPU {gpu} has {capacity} MiB for leases: it can never fit")
    if not os.path.isdir(directory):
        raise LeaseError(f"lease directory {directory} does not exist: run the container-toolkit role on the host, and mount it into the container")
    path = os.path.join(directory, f"gpu{gpu}.{holder}.lease")
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while True:
        mutex = _open_mutex(directory, gpu)
        try:
            fcntl.flock(mutex, fcntl.LOCK_EX)
            holders = live_leases(directory, gpu, clean=True, skip=path)
            used = sum(int(h.get("mib", "0") or 0) for h in holders)
            if used + mib <= capacity:
                return _take(path, gpu, holder, mib)
        finally:
            os.close(mutex)
        if deadline is not None and time.monotonic() >= deadline:
            raise LeaseTimeout(f"{holder} wants {mib} MiB of GPU {gpu} ({capacity} MiB for leases), but {describe(holders)}", holders)
        if not waited and on_wait is not None:
            on_wait(holders)
        waited = True
        time.sleep(poll)


def _take(path: str, gpu: int, holder: str, mib: int) -> Lease:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LeaseError(f"holder {holder} already holds a lease on GPU {gpu}: each worker needs its own name")
    since = time.time()
    line = f"gpu={gpu} holder={holder} mib={mib} since={since:.6f} pid={os.getpid()}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, line, 0)
    return Lease(gpu=gpu, holder=holder, mib=mib, since=since, path=path, fd=fd)


def listing(directory: str) -> str:
    """The lease directory as `gpu=.. holder=.. mib=.. since=.. pid=.. state=live|stale` lines."""
    out = []
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), "gpu*.*.lease"))):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                state = "stale"
            except BlockingIOError:
                state = "live"
            line = os.pread(fd, 4096, 0).decode(errors="replace").split("\n", 1)[0].strip()
        finally:
            os.close(fd)
        if line:
            out.append(f"{line} state={state}")
    return "".join(f"{l}\n" for l in out)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="gpu_lease.py", description="VRAM leases on this host (docs/timeshare.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    hold = sub.add_parser("hold", help="take a lease, run CMD while holding it, release it")
    hold.add_argument("--gpu", type=int)
    hold.add_argument("--mib", type=int)
    hold.add_argument("--capacity", type=int)
    hold.add_argument("--holder")
    hold.add_argument("--dir")
    hold.add_argument("--timeout", type=float)
    hold.add_argument("cmd", nargs=argparse.REMAINDER)
    lst = sub.add_parser("list", help="print the leases, live or stale")
    lst.add_argument("--dir", default=os.environ.get("GPU_FLEET_LEASE_DIR", DEFAULT_DIR))
    args = parser.parse_args(argv)

    if args.command == "list":
        sys.stdout.write(listing(args.dir))
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("hold needs a command after --")
    try:
        lease = acquire(
            mib=args.mib, gpu=args.gpu, capacity=args.capacity, holder=args.holder, directory=args.dir, timeout=args.timeout,
            on_wait=lambda holders: print(f"gpu_lease: waiting for room: {describe(holders)}", file=sys.stderr, flush=True),
        )
    except LeaseError as e:
        print(f"gpu_lease: {e}", file=sys.stderr)
        return 3 if isinstance(e, LeaseTimeout) else 2
    with lease:
        # The command inherits the locked descriptor: the lease lives as long as the process that
        # holds the VRAM, even if this wrapper is killed.
        env = dict(os.environ, GPU_FLEET_LEASE_FD=str(lease.fd))
        try:
            return subprocess.run(cmd, pass_fds=(lease.fd,), env=env).returncode
        except OSError as e:
            print(f"gpu_lease: cannot run {cmd[0]}: {e.strerror}", file=sys.stderr)
            return 127 if e.errno == errno.ENOENT else 126


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
