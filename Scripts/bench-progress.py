#!/usr/bin/env python3
"""What drawing progress costs: runs one bertcheck command with stderr on a pseudo-terminal,
with progress and with --quiet, in ABBA order, ROUNDS times each; prints the median wall and CPU
(user + system) times of both and their ratio. stdout goes to /dev/null.

    Scripts/bench-progress.py ROUNDS BERTCHECK ARGS...
"""
import os, resource, statistics, subprocess, sys, termios, fcntl, struct, time, tty


def run(command):
    primary, replica = os.openpty()
    tty.setraw(replica)
    fcntl.ioctl(primary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(os.devnull, "wb") as null:
        process = subprocess.Popen(command, stdout=null, stderr=replica, stdin=subprocess.DEVNULL)
    os.close(replica)
    drawn = 0
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk.count(b"\r")
    status = process.wait()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.close(primary)
    if status != 0:
        sys.exit(f"{command}: exit {status}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, drawn


def main():
    rounds, command = int(sys.argv[1]), sys.argv[2:]
    times = {"progress": [], "quiet": []}
    for round in range(rounds):
        # ABBA order: whatever the machine does over time falls on both sides alike.
        pair = (("progress", []), ("quiet", ["--quiet"]))
        for label, extra in (pair if round % 2 == 0 else pair[::-1]):
            wall, cpu, drawn = run(command + extra)
            times[label].append((wall, cpu))
            print(f"{label:8} wall {wall:8.3f} s  cpu {cpu:8.3f} s  carriage returns {drawn}", flush=True)
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f"median wall: progress {wall['progress']:.3f} s, quiet {wall['quiet']:.3f} s, ratio {wall['progress'] / wall['quiet']:.4f}")
    print(f"median cpu:  progress {cpu['progress']:.3f} s, quiet {cpu['quiet']:.3f} s, ratio {cpu['progress'] / cpu['quiet']:.4f}")


main()
