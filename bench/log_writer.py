"""The log-throughput writer of bench/run: writes fixed 100-byte lines to stdout as fast as it
can, then a final `DONE <lines>` line.

    python3 log_writer.py TOTAL_BYTES STAMP_FILE [GO_FILE]

With GO_FILE, it first creates GO_FILE.armed and waits (polling every 0.5 ms) until GO_FILE
exists, so the harness can read the manager's CPU counters once the service runs and before a
byte is written. Before writing, it records its start time (CLOCK_MONOTONIC, ns) in STAMP_FILE,
so the harness can time the transfer from the writer's own start whatever stdout is connected
to.
"""

import os
import sys
import time

total, stamp = int(sys.argv[1]), sys.argv[2]
if len(sys.argv) > 3:
    go = sys.argv[3]
    open(go + ".armed", "w").close()
    while not os.path.exists(go):
        time.sleep(0.0005)
with open(stamp, "w") as f:
    f.write(str(time.clock_gettime_ns(time.CLOCK_MONOTONIC)))
line = b"0123456789" * 9 + b"abcdefghi\n"  # 100 bytes
chunk = line * 640  # 64000 bytes per write
lines = total // len(line)
full, rest = divmod(lines, 640)


def write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


for _ in range(full):
    write_all(chunk)
write_all(line * rest)
write_all(b"DONE %d\n" % lines)
