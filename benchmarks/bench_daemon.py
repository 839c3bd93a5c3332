"""How long ``hotwatch watch`` takes to absorb a card import, compared with ``hotwatch scan``.

Writes a simulated roll (camera JPEGs, one body, planted defects), then:

1. ``hotwatch scan ROLL`` into a fresh home: wall time of the whole command, peak RSS;
2. ``hotwatch watch INBOX`` into another fresh home: once it has said READY=1 (systemd
   notify protocol), the roll is copied into INBOX at once; the time runs from the start of
   the copy until the catalogue holds every photo. Peak memory is the daemon's VmHWM;
3. then the daemon stays light: its RSS once the burst is absorbed and its queue ran dry
   (it gives photo-sized buffers back then), and its CPU while idle over ``--idle``
   seconds (from /proc: what the watcher, the settler and the rescan timer cost).

The daemon's time includes one settle delay (a photo is read only after it has stayed
unchanged that long) and the copy itself; scan's includes interpreter start-up.

    python -m benchmarks.bench_daemon --frames 1000 --size 320x240   # from the repository root
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hotwatch.sim import camsim

REPO = Path(__file__).resolve().parents[1]


def make_roll(folder: Path, n: int, width: int, height: int) -> list[Path]:
    sensor = camsim.SensorSpec(width=width, height=height)
    shots = camsim.plan_roll(n, seed=7)
    defects = camsim.plant_defects(
        sensor, {"hot": 3, "stuck": 1, "dead": 1}, late_fraction=0.3, seed=7, n_shots=n
    )
    cam = camsim.Camera(sensor, defects, seed=7)
    return sorted(camsim.write_roll(cam, shots, folder, formats=("jpeg",)))


def count_rows(home: Path) -> int:
    db = home / "catalogue.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM files WHERE status='ingested'").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def hotwatch_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hotwatch", "--home", str(home), *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def time_scan(roll: Path, home: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``hotwatch scan``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        hotwatch_cmd(home, "-q", "scan", str(roll)), env=env(), stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("hotwatch scan failed")
    return took, usage.ru_maxrss / 1024


def vm_hwm(pid: int) -> float:
    """Peak resident memory of ``pid`` in MiB (VmHWM in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vm_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cost(pid: int, seconds: float) -> tuple[float, float]:
    """The daemon's RSS (MiB) once idle, and its CPU share (%) over ``seconds`` of idling."""
    time.sleep(2.0)  # its queue ran dry: let it give its buffers back
    rss = vm_rss(pid)
    cpu, t = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    return rss, 100 * (cpu_seconds(pid) - cpu) / (time.perf_counter() - t)


def time_daemon(
    files: list[Path], inbox: Path, home: Path, settle: float, idle: float
) -> tuple[float, float]:
    """Seconds from the start of the copy until every photo is in the catalogue; peak MiB;
    then prints its idle RSS and CPU."""
    inbox.mkdir(parents=True)
    sock_path = home.parent / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    ready = threading.Event()

    def listen() -> None:  # read notifications as systemd would, so the daemon never waits
        sock.settimeout(0.2)
        while True:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"READY=1" in data.split(b"\n"):
                ready.set()

    threading.Thread(target=listen, daemon=True).start()
    proc = subprocess.Popen(
        hotwatch_cmd(home, "-q", "watch", str(inbox), "--settle", str(settle)),
        env={**env(), "NOTIFY_SOCKET": str(sock_path)},
    )
    try:
        if not ready.wait(60):
            raise SystemExit("the daemon did not say READY=1")
        t0 = time.perf_counter()
        for f in files:
            shutil.copy2(f, inbox / f.name)
        copied = time.perf_counter() - t0
        deadline = t0 + 600
        while count_rows(home) < len(files):
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise SystemExit("the daemon did not absorb the burst")
            time.sleep(0.02)
        took = time.perf_counter() - t0
        peak = vm_hwm(proc.pid)
        print(f"  (copy of the burst took {copied:.2f} s)")
        rss, share = idle_cost(proc.pid, idle)
        print(
            f"daemon after the burst of {len(files)}: RSS {rss:.1f} MiB; idle CPU {share:.2f} % "
            f"of a core over {idle:g} s"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sock.close()
    return took, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT (default 320x240)")
    parser.add_argument("--settle", type=float, default=0.5, help="daemon settle seconds")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idling measured")
    args = parser.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        files = make_roll(base / "roll", args.frames, width, height)
        size = sum(f.stat().st_size for f in files) / 2**20
        print(
            f"{len(files)} JPEGs {width}x{height} ({size:.1f} MiB) written in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        scan_s, scan_mb = time_scan(base / "roll", base / "scan-home")
        print(f"hotwatch scan:  {scan_s:6.2f} s  peak {scan_mb:6.1f} MiB")
        daemon_s, daemon_mb = time_daemon(
            files, base / "inbox", base / "watch-home", args.settle, args.idle
        )
        print(f"hotwatch watch: {daemon_s:6.2f} s  peak {daemon_mb:6.1f} MiB (VmHWM)")
        ratio = daemon_s / scan_s
        print(f"daemon / scan = {ratio:.2f} (target <= 1.10)")
        print(
            f"daemon minus its settle delay ({args.settle:g} s) / scan = "
            f"{(daemon_s - args.settle) / scan_s:.2f}"
        )


if __name__ == "__main__":
    main()
