"""Importers of other tools' exports into SensorData (SI units, sensor frame).

Each importer reads one documented layout (docs/importers.md) and checks the
units against physics: standing still, an accelerometer reads 1 g.

* Polar Sensor Logger (Android app): ``*_ACC.txt`` and ``*_GYRO.txt``, ``;``
  separated, headers ``Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]``
  and ``...;X [dps];Y [dps];Z [dps]``.  The sensor timestamps (ns since
  2000-01-01, the device's clock) give the sample times; the phone timestamps
  put them on the phone's clock, which two sensors recorded by one phone share.
* Movesense Showcase (iOS app, its CSV conversion of a recording): one file
  per measurement, header ``timestamp,x,y,z``; each notification is a line
  ``<device ms>,x,y,z`` followed by lines ``,x,y,z`` for its further samples.
  Accelerometer in m/s^2, gyroscope in deg/s.
* A generic CSV with the user's column names, time unit and sensor units.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stridesense.errors import InputError
from stridesense.imu.consts import GRAVITY_MPS2
from stridesense.imu.data import ACC_UNITS, GYR_UNITS, SensorData, quiet_norm_g

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

PSL_ACC_HEADER = ["Phone timestamp", "sensor timestamp [ns]", "X [mg]", "Y [mg]", "Z [mg]"]
PSL_GYR_HEADER = ["Phone timestamp", "sensor timestamp [ns]", "X [dps]", "Y [dps]", "Z [dps]"]


@dataclass
class Detected:
    """What an importer found, for ``--dry-run``."""

    source: str
    columns: list[str]
    n: int
    rate_hz: float
    duration_s: float
    has_gyro: bool
    still_norm_g: float

    def lines(self) -> list[str]:
        return [
            f"{self.source}: {self.n} samples, {self.rate_hz:.1f} Hz, {self.duration_s:.1f} s, "
            f"{'accelerometer + gyroscope' if self.has_gyro else 'accelerometer only'}",
            f"  columns: {', '.join(self.columns)}",
            f"  |acc| in the quietest second: {self.still_norm_g:.3f} g (expect about 1 g)",
        ]


def detect(data: SensorData, columns: list[str]) -> Detected:
    """Facts about imported data for a dry run."""
    return Detected(data.source, columns, data.n, data.sampling_rate_hz, data.duration_s, data.has_gyro,
                    quiet_norm_g(data.time_s, data.acc_mps2))


EPOCH_RANGE_S = (946_684_800.0, 4_102_444_800.0)  # 2000-2100: a time column in this range is Unix time


FILE_NAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})[T_ ](\d{2})[:\-.]?(\d{2})[:\-.]?(\d{2})(Z?)")


def recording_date(data: SensorData, path: str | Path) -> tuple[str, str]:
    """(ISO date-time of the recording, where it came from).

    The samples' own clock when it is Unix time (a phone's); else a date-time
    in the file name (Movesense Showcase names its files
    ``2026-06-10T10:00:00Z_<serial>_Acc.csv``); else the export file's
    modification time less the recording's duration (when the app wrote it,
    not when it was imported).
    """
    t0 = float(data.time_s[0])
    if EPOCH_RANGE_S[0] < t0 < EPOCH_RANGE_S[1]:
        return pd.Timestamp(t0, unit="s", tz="UTC").isoformat(timespec="seconds"), "the samples' clock"
    m = FILE_NAME_DATE.search(Path(path).name)
    if m:
        try:
            stamp = pd.Timestamp(f"{m[1]}T{m[2]}:{m[3]}:{m[4]}{'+00:00' if m[5] else ''}")
            return stamp.isoformat(timespec="seconds"), "the file name"
        except ValueError:
            pass  # digits that only look like a date
    mtime = Path(path).stat().st_mtime - data.duration_s  # the file was written when the recording ended
    return pd.Timestamp(mtime, unit="s", tz="UTC").isoformat(timespec="seconds"), "the file's modification time"


def _check_time(t_s: np.ndarray, source: str, first_line: int = 2) -> None:
    dt = np.diff(t_s)
    back = np.flatnonzero(dt < 0)
    if back.size:
        i = int(back[0]) + 1
        raise InputError(f"line {i + first_line}: the clock jumps back ({t_s[i - 1]:.6f} -> {t_s[i]:.6f} s)", source)


def _drop_duplicates(df: pd.DataFrame, time_col: str, source: str) -> pd.DataFrame:
    """Drop exact duplicate rows; refuse rows that share a time but not their values."""
    dup = df.duplicated()
    df = df[~dup]
    same_time = df[time_col].duplicated(keep=False)
    if same_time.any():
        line = int(np.flatnonzero(same_time.to_numpy())[1]) + 2
        raise InputError(f"line {line}: two different rows at the same time; the export is inconsistent", source)
    return df


def read_csv_export(
    path: str | Path,
    *,
    role: str,
    time_col: str | None = None,
    time_unit: str = "s",
    acc_cols: list[str] | None = None,
    gyr_cols: list[str] | None = None,
    acc_unit: str = "mps2",
    gyr_unit: str = "radps",
) -> tuple[SensorData, list[str]]:
    """Read a CSV export with the user's column names and units.

    Column names not given are looked for among common names (time, timestamp,
    ts; acc_x/ax/accX...; gyr_x/gx/gyroX...).  The delimiter is sniffed.

    Returns
    -------
    data, columns
        The samples in SI units and the columns used (time, acc x/y/z, gyr x/y/z).
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError("file not found", src)
    for name, value, table in (("--time-unit", time_unit, TIME_UNITS), ("--acc-unit", acc_unit, ACC_UNITS),
                               ("--gyr-unit", gyr_unit, GYR_UNITS)):
        if value not in table:
            raise InputError(f"{name} must be one of {', '.join(table)}, not {value!r}")
    head = path.read_text(errors="replace")[:4096]
    if not head.strip():
        raise InputError("file is empty", src)
    try:
        sep = csv.Sniffer().sniff(head.splitlines()[0], delimiters=",;\t ").delimiter
    except csv.Error:
        sep = ","
    try:
        df = pd.read_csv(path, sep=sep, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"not a readable CSV file ({str(e).splitlines()[0]})", src) from None
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}

    def find(names):
        return next((lower[n] for n in names if n in lower), None)

    time_col = time_col or find(["time_s", "time", "timestamp", "ts", "t", "seconds"])
    acc_cols = acc_cols or [find([f"acc_{a}", f"a{a}", f"acc{a}", f"accel_{a}", f"{a}"]) for a in "xyz"]
    if gyr_cols is None:
        found = [find([f"gyr_{a}", f"g{a}", f"gyro{a}", f"gyro_{a}", f"gyr{a}"]) for a in "xyz"]
        gyr_cols = found if all(found) else []
    needed = [time_col, *acc_cols, *gyr_cols]
    missing = [c for c in needed if c is None or c not in df.columns]
    if missing or time_col is None:
        raise InputError(
            f"line 1: header {', '.join(df.columns)} lacks the columns needed; name them with --time-col, "
            "--acc-cols x,y,z and --gyr-cols x,y,z", src)
    values = df[needed].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"line {row + 2}: column {needed[col]} is not a number ({df[needed[col]].iloc[row]!r})", src)
    values = _drop_duplicates(values, time_col, src)
    t = values[time_col].to_numpy(float) * TIME_UNITS[time_unit]
    _check_time(t, src)
    acc = values[acc_cols].to_numpy(float) * ACC_UNITS[acc_unit]
    gyr = values[gyr_cols].to_numpy(float) * GYR_UNITS[gyr_unit] if gyr_cols else None
    data = SensorData(t, acc, gyr, role, source=src)
    _check_rate(data, "--time-unit", time_unit)
    _check_rate_steady(data)
    return data.validate(acc_unit, gyr_unit if gyr_cols else None), needed


def _check_rate(data: SensorData, option: str, unit: str) -> None:
    rate = data.sampling_rate_hz
    if not 45 <= rate <= 1100:
        guess = min(TIME_UNITS, key=lambda u: abs(np.log(rate * TIME_UNITS[unit] / TIME_UNITS[u] / 200)))
        raise InputError(f"the sample rate comes out at {rate:.3g} Hz with {option} {unit}; the time column looks "
                         f"like it is in {guess} ({option} {guess})", data.source)


def _check_rate_steady(data: SensorData) -> None:
    """A rate that changes mid-way (a device reconfigured) is refused, naming where."""
    dt = np.diff(data.time_s)
    n = dt.size
    if n < 400:
        return
    first = np.median(dt[: n // 4])
    windows = np.array_split(np.arange(n), 8)
    for w in windows:
        med = np.median(dt[w])
        if abs(med - first) > 0.2 * first:
            i = int(w[0])
            raise InputError(
                f"line {i + 2}: the sample rate changes from {1 / first:.0f} Hz to about {1 / med:.0f} Hz "
                f"(at {data.time_s[i]:.1f} s); split the file where the rate changes", data.source)


def read_polar_sensor_logger(acc_path: str | Path, gyr_path: str | Path | None, *, role: str) -> SensorData:
    """Read Polar Sensor Logger's ACC (and GYRO) text files into one sensor.

    Time: the sensor's own nanosecond timestamps, placed on the phone's clock
    (seconds since the Unix epoch) by the median phone-minus-sensor offset, so
    that two sensors logged by the same phone share a clock.  The gyroscope is
    interpolated onto the accelerometer's sample times.
    """
    acc_t, acc = _read_psl(acc_path, PSL_ACC_HEADER)
    acc_mps2 = acc * (GRAVITY_MPS2 / 1000.0)
    gyr_radps = None
    if gyr_path is not None:
        gyr_t, gyr = _read_psl(gyr_path, PSL_GYR_HEADER)
        overlap = (acc_t >= gyr_t[0]) & (acc_t <= gyr_t[-1])
        if overlap.sum() < 10:
            raise InputError("the ACC and GYRO files do not overlap in time: are they from the same recording?",
                             str(gyr_path))
        acc_t, acc_mps2 = acc_t[overlap], acc_mps2[overlap]
        gyr_radps = np.column_stack([np.interp(acc_t, gyr_t, gyr[:, i]) for i in range(3)]) * np.pi / 180.0
    data = SensorData(acc_t, acc_mps2, gyr_radps, role, source=str(acc_path), meta={"importer": "polar-sensor-logger"})
    _check_rate_steady(data)
    return data.validate("mg", "dps" if gyr_radps is not None else None)


def _read_psl(path: str | Path, header: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One Polar Sensor Logger file: (time on the phone clock, s; (n, 3) values in the file's unit)."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError("file not found", src)
    try:
        df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", src) from None
    cols = [c.strip() for c in df.columns if c.strip()]
    if cols != header:
        raise InputError(f"line 1: header {';'.join(cols)!r} is not Polar Sensor Logger's {';'.join(header)!r}", src)
    df = df.iloc[:, :5]
    df.columns = header
    sensor_ns = pd.to_numeric(df[header[1]].str.strip(), errors="coerce")
    xyz = df[header[2:]].apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    phone = pd.to_datetime(df[header[0]].str.strip(), errors="coerce")
    bad = sensor_ns.isna() | xyz.isna().any(axis=1) | phone.isna()
    if bad.any():
        raise InputError(f"line {int(np.flatnonzero(bad.to_numpy())[0]) + 2}: not a valid sample row", src)
    frame = pd.DataFrame({"ns": sensor_ns.astype("int64"), "x": xyz.iloc[:, 0], "y": xyz.iloc[:, 1],
                          "z": xyz.iloc[:, 2]})
    frame = _drop_duplicates(frame, "ns", src)
    phone = phone.loc[frame.index]
    t_dev = (frame["ns"].to_numpy() - frame["ns"].iloc[0]) * 1e-9
    _check_time(t_dev, src)
    phone_s = (phone - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    # Phone stamps arrive late and in bursts; the sensor clock is steady: keep its spacing, take the phone's offset.
    offset = float(np.median(phone_s - t_dev))
    return t_dev + offset, frame[["x", "y", "z"]].to_numpy(float)


SHOWCASE_HEADER = ["timestamp", "x", "y", "z"]
MOVESENSE_RATES_HZ = (13, 26, 52, 104, 208, 416, 833, 1666)


def read_movesense_showcase(acc_path: str | Path, gyr_path: str | Path | None, *, role: str) -> SensorData:
    """Read Movesense Showcase's CSV files of one sensor (accelerometer, and gyroscope if given).

    Time: each notification's device timestamp (ms, the sensor's clock) is its
    first sample's; the rate is the nearest Movesense rate to the samples per
    millisecond between notifications, and the further samples follow at that
    rate.  Times are seconds from the first accelerometer sample.  The
    gyroscope (same clock) is interpolated onto the accelerometer's times.
    """
    acc_t, acc = _read_showcase(acc_path)
    t0 = acc_t[0]
    gyr_radps = None
    if gyr_path is not None:
        gyr_t, gyr = _read_showcase(gyr_path)
        overlap = (acc_t >= gyr_t[0]) & (acc_t <= gyr_t[-1])
        if overlap.sum() < 10:
            raise InputError("the accelerometer and gyroscope files do not overlap in time: are they from the "
                             "same recording of the same sensor?", str(gyr_path))
        acc_t, acc = acc_t[overlap], acc[overlap]
        gyr_radps = np.column_stack([np.interp(acc_t, gyr_t, gyr[:, i]) for i in range(3)]) * np.pi / 180.0
    data = SensorData(acc_t - t0, acc, gyr_radps, role, source=str(acc_path),
                      meta={"importer": "movesense-showcase"})
    _check_rate_steady(data)
    return data.validate("mps2", "dps" if gyr_radps is not None else None)


def _read_showcase(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One Showcase CSV: (sample times on the device clock, s; (n, 3) values as written)."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError("file not found", src)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", src) from None
    cols = [c.strip() for c in df.columns]
    if cols != SHOWCASE_HEADER:
        raise InputError(f"line 1: header {','.join(cols)!r} is not Movesense Showcase's "
                         f"{','.join(SHOWCASE_HEADER)!r} (acceleration or gyroscope export)", src)
    xyz = df[["x", "y", "z"]].apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce")).to_numpy(float)
    stamp = pd.to_numeric(df["timestamp"].str.strip().replace("", np.nan), errors="coerce").to_numpy(float)
    stamped = df["timestamp"].str.strip().to_numpy() != ""
    bad = np.isnan(xyz).any(axis=1) | (stamped & np.isnan(stamp))
    if bad.any():
        raise InputError(f"line {int(np.flatnonzero(bad)[0]) + 2}: not a valid sample row", src)
    if not stamped.any() or not stamped[0]:
        raise InputError("line 2: the first row has no timestamp", src)
    starts = np.flatnonzero(stamped)
    per_packet = np.diff(np.append(starts, len(df)))
    ms = stamp[starts]
    # The device clock is a u32 of milliseconds: unwrap it, then refuse a clock that goes back.
    ms = ms + 2.0 ** 32 * np.cumsum(np.append(0, np.diff(ms) < -2.0 ** 31))
    step = np.diff(ms)
    if (step < 0).any():
        k = int(np.argmax(step < 0)) + 1
        raise InputError(f"line {starts[k] + 2}: the timestamp goes back ({ms[k - 1]:.0f} -> {ms[k]:.0f} ms)", src)
    if starts.size < 3:
        raise InputError("too few notifications to find the sample rate", src)
    ms_per_sample = np.median(step / per_packet[:-1])
    rate = min(MOVESENSE_RATES_HZ, key=lambda r: abs(np.log(r * ms_per_sample / 1000.0)))
    within = np.arange(len(df)) - np.repeat(starts, per_packet)
    t = np.repeat(ms / 1000.0, per_packet) + within / rate
    return t - t[0], xyz
