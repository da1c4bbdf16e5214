"""The in-memory form of one sensor's samples.

Everything that brings samples in (CSV, recordings, Bluetooth, the simulator)
produces :class:`SensorData`; everything downstream consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from stridesense.errors import InputError
from stridesense.imu.consts import GRAVITY_MPS2, ROLES
from stridesense.imu.vectors import row_norms

MIN_RATE_HZ = 50.0
MAX_RATE_HZ = 1000.0


@dataclass(frozen=True)
class SensorData:
    """Samples of one IMU on the session clock, sensor frame, SI units.

    Attributes
    ----------
    time_s
        (n,) sample times on the session clock, strictly increasing, s.
    acc_mps2
        (n, 3) specific force in the sensor frame, m/s^2.
    gyr_radps
        (n, 3) angular rate in the sensor frame, rad/s; ``None`` for an
        accelerometer-only sensor.
    role
        ``"pelvis"`` or ``"trunk"``.
    source
        Where the samples came from (file name, device), for messages.
    meta
        Free-form facts about the device (model, firmware, ranges).
    """

    time_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray | None
    role: str
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        t = np.asarray(self.time_s, dtype=float)
        acc = np.asarray(self.acc_mps2, dtype=float)
        gyr = None if self.gyr_radps is None else np.asarray(self.gyr_radps, dtype=float)
        object.__setattr__(self, "time_s", t)
        object.__setattr__(self, "acc_mps2", acc)
        object.__setattr__(self, "gyr_radps", gyr)
        src = self.source or self.role
        if self.role not in ROLES:
            raise InputError(f"role must be one of {ROLES}, not {self.role!r}", src)
        if t.ndim != 1 or acc.shape != (t.size, 3):
            raise InputError(f"expected (n,) times and (n, 3) accelerations, got {t.shape} and {acc.shape}", src)
        if gyr is not None and gyr.shape != (t.size, 3):
            raise InputError(f"expected (n, 3) angular rates, got {gyr.shape}", src)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.time_s.size

    @property
    def has_gyro(self) -> bool:
        """True when the sensor has a gyroscope."""
        return self.gyr_radps is not None

    @property
    def sampling_rate_hz(self) -> float:
        """Nominal rate from the median sample interval, Hz."""
        if self.n < 2:
            return float("nan")
        return 1.0 / float(np.median(np.diff(self.time_s)))

    @property
    def duration_s(self) -> float:
        """Time from first to last sample, s."""
        return float(self.time_s[-1] - self.time_s[0]) if self.n else 0.0

    def slice_time(self, t0: float, t1: float) -> "SensorData":
        """Samples with ``t0 <= time_s < t1`` (views: time is increasing, so a slice is a range)."""
        m = slice(*np.searchsorted(self.time_s, [t0, t1]))
        return replace(
            self,
            time_s=self.time_s[m],
            acc_mps2=self.acc_mps2[m],
            gyr_radps=None if self.gyr_radps is None else self.gyr_radps[m],
        )

    def validate(self) -> "SensorData":
        """Check values and sampling; raise :class:`InputError` naming the problem.

        Returns self so that calls chain.
        """
        src = self.source or self.role
        if self.n < 2:
            raise InputError("has fewer than two samples", src)
        arrays = [("time_s", self.time_s), ("acceleration", self.acc_mps2)]
        if self.gyr_radps is not None:
            arrays.append(("angular rate", self.gyr_radps))
        for name, a in arrays:
            with np.errstate(over="ignore"):
                if np.isfinite(a.sum()):
                    continue  # a NaN or inf anywhere makes the sum non-finite (one pass, no mask)
            bad = ~np.isfinite(a)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise InputError(f"{name} has a missing or non-numeric value at sample {row}", src)
        dt = np.diff(self.time_s)
        if (dt == 0).any():
            i = int(np.argmax(dt == 0))
            raise InputError(f"time_s repeats at sample {i + 1} ({self.time_s[i]:.6f} s): duplicated rows", src)
        if (dt < 0).any():
            i = int(np.argmax(dt < 0))
            raise InputError(
                f"time_s goes back at sample {i + 1} ({self.time_s[i]:.6f} -> {self.time_s[i + 1]:.6f} s): "
                "sort the file or fix the clock",
                src,
            )
        rate = self.sampling_rate_hz
        if not MIN_RATE_HZ * 0.9 <= rate <= MAX_RATE_HZ * 1.1:
            raise InputError(
                f"sample rate {rate:.1f} Hz is outside {MIN_RATE_HZ:.0f}-{MAX_RATE_HZ:.0f} Hz; is time_s in seconds?",
                src,
            )
        # Every 10th sample tells g from m/s^2 as well as all of them do, at a tenth of the cost.
        norm = row_norms(self.acc_mps2[::10])
        med = float(np.median(norm))
        if 0.5 < med < 2.0:
            raise InputError(
                f"median acceleration magnitude is {med:.2f}: the file looks like it is in g, "
                "not m/s^2 (multiply by 9.80665, or import with --acc-unit g)",
                src,
            )
        if not 0.4 * GRAVITY_MPS2 < med < 4 * GRAVITY_MPS2:
            raise InputError(
                f"median acceleration magnitude is {med:.2f} m/s^2, far from gravity (9.81): check the unit",
                src,
            )
        if self.gyr_radps is not None:
            p99 = float(np.percentile(np.abs(self.gyr_radps[::10]), 99))
            if p99 > 40:
                raise InputError(
                    f"angular rate reaches {p99:.0f} rad/s: the gyroscope looks like it is in deg/s, not rad/s",
                    src,
                )
        return self


@dataclass(frozen=True)
class Session:
    """One run: a pelvis sensor, optionally a trunk sensor, and the runner.

    Attributes
    ----------
    pelvis, trunk
        Each sensor's samples on the common session clock (trunk may be None).
    mass_kg
        Body mass, kg (impact in body weights does not need it; newtons do).
    runner
        Runner's name or id, may be empty.
    meta
        Free-form session facts (date, devices, source folder).
    """

    pelvis: SensorData
    trunk: SensorData | None = None
    mass_kg: float = 70.0
    runner: str = ""
    meta: dict = field(default_factory=dict)
