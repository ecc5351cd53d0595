"""A background worker that finishes its current job when asked to stop."""
import signal
import sys
import time

stopping = False


def stop(signum, frame):
    global stopping
    stopping = True
    print("worker: stop requested, finishing the current job")


signal.signal(signal.SIGTERM, stop)
queue = sys.argv[sys.argv.index("--queue") + 1] if "--queue" in sys.argv else "default"
print(f"worker: waiting for jobs on queue {queue!r}")
job = 0
while not stopping:
    job += 1
    print(f"worker: processed job #{job}")
    time.sleep(2)
print("worker: bye")
