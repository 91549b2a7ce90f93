"""``python -m tests.hub.delay NETNS HERE THERE SECONDS``: a round trip where netem is missing.

Some kernels are built without sch_netem. Then this host's packets to the CDN's namespace are
routed into a tun device (HERE); this process reads each one, holds it for SECONDS and writes it
to a tun device inside the namespace (THERE), where the kernel receives it as it arrived. Only
this direction (requests and ACKs: small, few) crosses userspace; the CDN's bodies go back over
the veth pair under its HTB cap, so TCP sees the whole round trip without the data paying for a
copy. Prints ``ready`` once both devices are attached; runs until killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import struct
import sys
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def attach(name: str) -> int:
    """A file descriptor on the existing tun device ``name`` of this network namespace."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def enter(netns: str) -> None:
    """Move this process into the named network namespace (os.setns is Python 3.12+)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{netns}") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")


def relay(source: int, sink: int, seconds: float) -> None:
    """Forward every packet from ``source`` to ``sink`` ``seconds`` after it was read."""
    held: deque[tuple[float, bytes]] = deque()
    while True:
        wait = max(0.0, held[0][0] - time.monotonic()) if held else None
        readable, _, _ = select.select([source], [], [], wait)
        now = time.monotonic()
        if readable:
            while True:
                try:
                    held.append((now + seconds, os.read(source, 65536)))
                except BlockingIOError:
                    break
        while held and held[0][0] <= now:
            with contextlib.suppress(OSError):  # refused: a lost packet, TCP resends it
                os.write(sink, held.popleft()[1])


def main(argv: list[str]) -> int:
    netns, here, there, seconds = argv
    source = attach(here)
    enter(netns)
    sink = attach(there)
    print("ready", flush=True)
    relay(source, sink, float(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
