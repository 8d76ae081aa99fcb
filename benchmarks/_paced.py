"""`python benchmarks/_paced.py RATE simulate ...`: the `cutpro` command, every TCP send paced.

A real link delivers a few hundred MiB/s at most; loopback delivers GiB/s. The simulator's own
`trickle` fault sleeps after every 4 KiB piece, and the event loop cannot sleep that briefly
(epoll waits whole milliseconds), so `trickle:209715200` delivers about 3 MiB/s. Here the
kernel paces instead: every connection the simulator accepts gets `SO_MAX_PACING_RATE` (TCP's
own pacing, no qdisc needed), which holds each connection, hence each download, to RATE bytes
per second at no CPU cost to either side.
"""

from __future__ import annotations

import runpy
import socket
import sys

#: `SO_MAX_PACING_RATE` from <asm-generic/socket.h> (Python's socket module lacks the name).
SO_MAX_PACING_RATE = getattr(socket, "SO_MAX_PACING_RATE", 47)


def pace_accepted(rate: int) -> None:
    """Make every socket this process accepts send at most `rate` bytes per second."""
    accept = socket.socket.accept

    def paced(self: socket.socket) -> tuple[socket.socket, object]:
        conn, address = accept(self)
        conn.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, rate)
        return conn, address

    socket.socket.accept = paced  # type: ignore[method-assign]


def main() -> None:
    """Pace, then run `cutpro` with the remaining arguments."""
    pace_accepted(int(sys.argv[1]))
    sys.argv = ["cutpro", *sys.argv[2:]]
    runpy.run_module("cutpro_async", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
