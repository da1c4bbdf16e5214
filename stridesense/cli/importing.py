"""`stridesense import`: other tools' exports into a native session folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from stridesense.errors import InputError
from stridesense.imu.consts import ROLES


def register(sub) -> None:
    p = sub.add_parser("import", help="import another tool's export into a session folder")
    kinds = p.add_subparsers(dest="kind", metavar="FORMAT", required=True)

    def common(q):
        q.add_argument("--role", required=True, choices=ROLES, help="where the sensor was worn")
        q.add_argument("--out", help="session folder to create, or to add this sensor to")
        q.add_argument("--runner", default="", help="runner's name or id")
        q.add_argument("--mass-kg", type=float, default=70.0, help="body mass, kg")
        q.add_argument("--dry-run", action="store_true", help="show what was detected; write nothing")
        q.add_argument("--recorded-at", help="date and time of the run, ISO (e.g. 2026-05-30T07:15); default: from "
                                             "the samples' clock when it is a date, else the file's time")

    q = kinds.add_parser("polar-sensor-logger", help="Polar Sensor Logger's *_ACC.txt and *_GYRO.txt")
    q.add_argument("acc", help="the ACC file")
    q.add_argument("gyro", nargs="?", help="the GYRO file (optional: accelerometer only without it)")
    common(q)
    q.set_defaults(func=run_polar)

    q = kinds.add_parser("movesense-showcase", help="Movesense Showcase's CSV files (acceleration, gyroscope)")
    q.add_argument("acc", help="the acceleration CSV")
    q.add_argument("gyro", nargs="?", help="the gyroscope CSV of the same sensor (optional)")
    common(q)
    q.set_defaults(func=run_showcase)

    q = kinds.add_parser("csv", help="a CSV export with your column names and units")
    q.add_argument("file")
    q.add_argument("--time-col", help="time column (default: looked for)")
    q.add_argument("--time-unit", default="s", help="s, ms, us or ns (default s)")
    q.add_argument("--acc-cols", help="x,y,z acceleration columns (default: looked for)")
    q.add_argument("--gyr-cols", help="x,y,z angular rate columns (default: looked for; none = no gyroscope)")
    q.add_argument("--acc-unit", default="mps2", help="mps2, g or mg (default mps2)")
    q.add_argument("--gyr-unit", default="radps", help="radps, dps or mdps (default radps)")
    common(q)
    q.set_defaults(func=run_csv)


def run_polar(args) -> int:
    from stridesense.streaming.importers import PSL_ACC_HEADER, detect, read_polar_sensor_logger

    data = read_polar_sensor_logger(args.acc, args.gyro, role=args.role)
    return _finish(args, data, PSL_ACC_HEADER, detect)


def run_showcase(args) -> int:
    from stridesense.streaming.importers import SHOWCASE_HEADER, detect, read_movesense_showcase

    data = read_movesense_showcase(args.acc, args.gyro, role=args.role)
    return _finish(args, data, SHOWCASE_HEADER, detect)


def run_csv(args) -> int:
    from stridesense.streaming.importers import detect, read_csv_export

    def cols(text):
        if text is None:
            return None
        names = [c.strip() for c in text.split(",")]
        if len(names) != 3:
            raise InputError(f"give three comma-separated column names, not {text!r}")
        return names

    gyr_cols = [] if args.gyr_cols and args.gyr_cols.lower() == "none" else cols(args.gyr_cols)
    data, used = read_csv_export(args.file, role=args.role, time_col=args.time_col, time_unit=args.time_unit,
                                 acc_cols=cols(args.acc_cols), gyr_cols=gyr_cols, acc_unit=args.acc_unit,
                                 gyr_unit=args.gyr_unit)
    return _finish(args, data, used, detect)


def _finish(args, data, columns, detect) -> int:
    from stridesense.imu.data import check_mass_kg
    from stridesense.streaming.recording import is_session_folder, read_sensors, write_sensors

    check_mass_kg(args.mass_kg, "--mass-kg")
    recorded_at, where = _recorded_at(args, data)
    for line in detect(data, list(columns)).lines():
        print(line)
    print(f"  recorded at {recorded_at} (from {where})")
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    if not args.out:
        raise InputError("give --out SESSION_FOLDER (or --dry-run)")
    out = Path(args.out)
    if out.exists() and is_session_folder(out):
        sensors, manifest = read_sensors(out)
        if args.role in sensors:
            raise InputError(f"{out} already has a {args.role} sensor; import into a new session folder")
        sensors[args.role] = data
        tmp = out.with_name(out.name + ".importing")
        if tmp.exists():
            shutil.rmtree(tmp)
        write_sensors(tmp, sensors, runner=manifest.get("runner", "") or args.runner,
                      mass_kg=float(manifest.get("mass_kg", args.mass_kg)), meta=manifest.get("meta", {}),
                      recorded_at=recorded_at if args.recorded_at or where == "the samples' clock"
                      else manifest.get("recorded_at") or recorded_at)
        shutil.rmtree(out)
        tmp.rename(out)
        print(f"added the {args.role} sensor to {out}")
    elif out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not a session folder; choose a new folder")
    else:
        write_sensors(out, {args.role: data}, runner=args.runner, mass_kg=args.mass_kg,
                      meta={"imported_from": data.source, "recorded_at_from": where}, recorded_at=recorded_at)
        print(f"wrote {out}" + ("" if args.role == "pelvis" else
                                " (import the pelvis sensor into the same folder to analyse it)"))
    return 0


def _recorded_at(args, data) -> tuple[str, str]:
    """The run's date and time (ISO, UTC when known) and where it came from."""
    import pandas as pd

    from stridesense.streaming.importers import recording_date

    if args.recorded_at:
        try:
            stamp = pd.Timestamp(args.recorded_at)
        except ValueError:
            raise InputError(f"--recorded-at {args.recorded_at!r} is not a date and time (e.g. 2026-05-30T07:15)") \
                from None
        return stamp.isoformat(timespec="seconds"), "--recorded-at"
    return recording_date(data, data.source)
