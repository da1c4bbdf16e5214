"""`stridesense scan`, `record` and `redecode`: real sensors over Bluetooth."""

from __future__ import annotations

import os
import time

from stridesense.errors import InputError, RecordingError

CALIBRATION_S = 5.0  # the runner stands still this long at the start


def register(sub) -> None:
    p = sub.add_parser("scan", help="list nearby supported sensors: name, address, family, RSSI")
    p.add_argument("--timeout-s", type=float, default=5.0, help="how long to listen (default 5 s)")
    p.add_argument("--all", action="store_true", help="list every Bluetooth device, supported or not")
    p.set_defaults(func=run_scan)

    p = sub.add_parser("record", help="record a session from a pelvis and a trunk sensor (Ctrl-C to stop)")
    recording_args(p)
    p.set_defaults(func=run_record)

    p = sub.add_parser("redecode", help="decode a recorded session again from its raw bytes (after a decoder fix)")
    p.add_argument("session", metavar="SESSION", help="a session folder written by `stridesense record`")
    p.set_defaults(func=run_redecode)


def recording_args(p) -> None:
    """What `record` and `live` take: the sensors, the runner, where and how long."""
    p.add_argument("--pelvis", required=True, metavar="SENSOR",
                   help="pelvis sensor: address, advertised name, or the ID printed on it (e.g. 0A3BF1D7)")
    p.add_argument("--trunk", metavar="SENSOR", help="trunk sensor: address, name or printed ID (optional)")
    p.add_argument("--runner", default="", help="runner's name or id")
    p.add_argument("--mass-kg", type=float, default=70.0, help="body mass, kg")
    p.add_argument("--out", default="sessions", help="folder to create the session folder in (default sessions/)")
    p.add_argument("--rate-hz", type=float, default=208.0, help="wanted sample rate (the sensor's nearest)")
    p.add_argument("--duration-s", type=float, help="stop after this long (default: at Ctrl-C)")
    p.add_argument("--connect-timeout-s", type=float, default=15.0, help="how long to look for the sensors")


def run_scan(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from stridesense.streaming.ble import scan_now

    if args.timeout_s <= 0:
        raise InputError("--timeout-s must be positive")
    console = Console()
    with console.status(f"Scanning for {args.timeout_s:g} s..."):
        found = scan_now(args.timeout_s, everything=args.all)
    if not found:
        console.print("No supported sensors found. Are they switched on, charged and near?")
        return 1
    table = Table("name", "address", "family", "RSSI (dBm)")
    for s in found:
        table.add_row(s.name, s.address, s.family or "(not supported)", "" if s.rssi is None else str(s.rssi))
    console.print(table)
    return 0


def _status_table(recorder):
    from rich.table import Table

    elapsed = recorder.elapsed_s()
    calibrating = elapsed < CALIBRATION_S
    title = (f"[bold yellow]Stand still, upright: calibrating ({CALIBRATION_S - elapsed:.0f} s)"
             if calibrating else f"Recording {time.strftime('%H:%M:%S', time.gmtime(elapsed))}  (Ctrl-C to stop)")
    streams = "; ".join(f"{s.role}: {s.streams}" for s in recorder.status.values() if s.streams)
    table = Table(title=title, caption="lost: samples missed out of range; bad: dropped or repeated packets"
                  + (f"\n{streams}" if streams else ""))
    table.add_column("sensor")
    table.add_column("device", no_wrap=True)
    table.add_column("link", no_wrap=True)
    for name in ("Hz", "samples", "lost", "bad", "reconn"):
        table.add_column(name, justify="right")
    for s in recorder.status.values():
        table.add_row(s.role, s.name or s.family, "[green]up" if s.connected else "[red]lost",
                      f"{s.rate_hz:.0f}", str(s.samples), str(s.lost_samples), str(s.dropped_packets),
                      str(s.reconnects))
    return table


def run_record(args) -> int:
    from rich.console import Console
    from rich.live import Live

    from stridesense.streaming.ble import record, session_folder

    from stridesense.imu.data import check_mass_kg

    check_mass_kg(args.mass_kg, "--mass-kg")
    if args.duration_s is not None and args.duration_s <= 0:
        raise InputError("--duration-s must be positive")
    sensors = {"pelvis": args.pelvis}
    if args.trunk:
        sensors["trunk"] = args.trunk
    folder = session_folder(args.out, args.runner)
    try:  # a place we cannot write to is found before any sensor is connected
        folder.parent.mkdir(parents=True, exist_ok=True)
        probe = folder.parent / f".stridesense-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise RecordingError(f"cannot write sessions to {folder.parent}: {e.strerror or e}") from None
    console = Console()
    console.print(f"Looking for {', '.join(f'{r} {t!r}' for r, t in sensors.items())}...")
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        result = record(sensors, folder, duration_s=args.duration_s, runner=args.runner, mass_kg=args.mass_kg,
                        rate_hz=args.rate_hz, connect_timeout_s=args.connect_timeout_s,
                        on_status=lambda rec: live.update(_status_table(rec)))
    lost = {r: s.lost_samples for r, s in result.status.items()}
    console.print(f"Session closed after {result.duration_s:.0f} s: {result.folder}", soft_wrap=True)
    if any(lost.values()):
        console.print("Lost while out of range (recorded as gaps): "
                      + ", ".join(f"{r} {n} samples" for r, n in lost.items()))
    console.print(f"Analyse it with: stridesense analyze {result.folder}", soft_wrap=True)
    return 0


def run_redecode(args) -> int:
    from stridesense.streaming.redecode import redecode

    for r in redecode(args.session):
        print(f"{r.role}: {r.samples_before} -> {r.samples_after} samples; {r.lost_samples} lost in gaps, "
              f"{r.dropped_packets} bad packets; clock offset {r.clock_offset_s:.4f} s, "
              f"drift {r.clock_drift_ppm:.1f} ppm")
    print(f"Rewritten with the current decoders and the final clock fit: {args.session}")
    return 0
