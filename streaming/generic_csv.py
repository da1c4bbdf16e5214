"""The generic CSV of METRICS.md: one file per sensor.

Header ``time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z`` (the gyroscope columns
may be absent for an accelerometer-only sensor); sensor frame; s, m/s^2, rad/s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stridesense.errors import InputError
from stridesense.imu.consts import ACC_COLS, CSV_COLS, GYR_COLS, TIME_COL
from stridesense.imu.data import SensorData


def read_sensor_csv(path: str | Path, role: str) -> SensorData:
    """Read one sensor's generic CSV and check it.

    Raises
    ------
    InputError
        Missing or empty file, other columns, non-numeric or missing values,
        time that repeats or goes back, implausible units.
    """
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise InputError("file not found", src)
    if path.is_dir():
        raise InputError("is a folder, not a CSV file", src)
    if path.stat().st_size == 0:
        raise InputError("file is empty", src)
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", src) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"not a readable CSV file ({str(e).splitlines()[0]})", src) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in [TIME_COL, *ACC_COLS] if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected header {','.join(CSV_COLS)} "
            f"(found {','.join(df.columns[:8])}); other layouts go through 'stridesense import'",
            src,
        )
    has_gyr = [c in df.columns for c in GYR_COLS]
    if any(has_gyr) and not all(has_gyr):
        raise InputError("has some but not all of gyr_x, gyr_y, gyr_z", src)
    if df.empty:
        raise InputError("has a header but no data rows", src)
    cols = [TIME_COL, *ACC_COLS] + (GYR_COLS if all(has_gyr) else [])
    values = df[cols].apply(pd.to_numeric, errors="coerce")
    # An accelerometer axis left wholly empty (a data set that publishes two axes) is analysed
    # without it: zeros, and the sensor says which axis it lacks (stridesense.api reports it).
    empty_axes = [c for c in ACC_COLS if values[c].isna().all() and len(values) > 1]
    if len(empty_axes) == 1:
        values[empty_axes[0]] = 0.0
    else:
        empty_axes = []
    bad = values.isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"line {row + 2}: column {cols[col]} is not a number ({df[cols[col]].iloc[row]!r})", src
        )
    v = values.to_numpy(dtype=float)
    data = SensorData(
        time_s=v[:, 0],
        acc_mps2=v[:, 1:4],
        gyr_radps=v[:, 4:7] if all(has_gyr) else None,
        role=role,
        source=src,
        meta={"missing_axes": empty_axes} if empty_axes else {},
    )
    return data.validate()


def write_sensor_csv(data: SensorData, path: str | Path) -> Path:
    """Write one sensor as generic CSV (gyroscope columns only if it has one)."""
    path = Path(path)
    cols = {TIME_COL: data.time_s}
    for i, c in enumerate(ACC_COLS):
        cols[c] = data.acc_mps2[:, i]
    if data.gyr_radps is not None:
        for i, c in enumerate(GYR_COLS):
            cols[c] = data.gyr_radps[:, i]
    pd.DataFrame(cols).to_csv(path, index=False, float_format="%.6f")
    return path
