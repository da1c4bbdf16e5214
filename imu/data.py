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
# The analysis lays each sensor on a uniform grid over its clock's span: a span far longer than its
# samples (a clock that jumps by hours) would cost work unrelated to the input's size.
MAX_MISSING_S = 900.0  # missing time allowed beyond the samples' own duration
MAX_GRID_FACTOR = 2.0  # ... or this many times the samples' duration, whichever is larger

ACC_UNITS = {"mps2": 1.0, "m/s2": 1.0, "g": GRAVITY_MPS2, "mg": GRAVITY_MPS2 / 1000.0}
GYR_UNITS = {"radps": 1.0, "rad/s": 1.0, "dps": np.pi / 180.0, "deg/s": np.pi / 180.0, "mdps": np.pi / 180e3}
QUIET_STD_G = 0.1  # a second whose |acc| varies less than this is standing still
MIXED_UNIT_RATIO = 6.0  # axes of one accelerometer never differ this much in spread; g vs m/s^2 is 9.8


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
    # Set by validate(): these very arrays passed (a CSV read is checked once, not again by the analysis).
    # A slice or relabelled copy is a new object and starts unchecked.
    _validated: bool = field(default=False, init=False, repr=False, compare=False)

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

    def validate(self, acc_unit: str | None = None, gyr_unit: str | None = None) -> "SensorData":
        """Check values, sampling and units; raise :class:`InputError` naming the problem.

        Every way in (generic CSV, importers, session folders, the Python API)
        passes through here.  ``acc_unit``/``gyr_unit`` name the unit the
        values were converted from (an importer's options), for the messages.
        Returns self so that calls chain.  Samples that passed are not checked again.
        """
        if self._validated:
            return self
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
        check_span(self)
        check_units(self, acc_unit, gyr_unit)
        object.__setattr__(self, "_validated", True)
        return self


def check_mass_kg(mass_kg: float, where: str = "body mass", fix: str = "") -> float:
    """A plausible body mass in kg, or :class:`InputError` (every way in uses this one check)."""
    if not (isinstance(mass_kg, (int, float)) and 20.0 <= float(mass_kg) <= 250.0):
        raise InputError(f"{where} {mass_kg!r} kg is not plausible for a runner (20-250 kg)"
                         + (f"; {fix}" if fix else ""))
    return float(mass_kg)


def check_span(data: SensorData) -> None:
    """Refuse a clock whose span is far longer than the samples it holds (the work follows the span)."""
    n_expected = data.duration_s * data.sampling_rate_hz
    held_s = data.n / data.sampling_rate_hz
    if data.duration_s > max(MAX_GRID_FACTOR * held_s, held_s + MAX_MISSING_S):
        dt = np.diff(data.time_s)
        i = int(np.argmax(dt))
        raise InputError(
            f"time_s spans {data.duration_s:.0f} s but its {data.n} samples cover only {held_s:.0f} s "
            f"({n_expected / data.n:.1f} times fewer samples than the span needs): the clock jumps by {dt[i]:.0f} s "
            f"at sample {i + 1} ({data.time_s[i]:.3f} -> {data.time_s[i + 1]:.3f} s); split the file there",
            data.source or data.role)


def quiet_norm_g(time_s: np.ndarray, acc_mps2: np.ndarray) -> float:
    """|acc| (g) over the quietest second of the first minute: standing, it must be about 1 g."""
    return quietest_second(time_s, acc_mps2)[0] / GRAVITY_MPS2


def quietest_second(time_s: np.ndarray, acc_mps2: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of |acc| over the quietest second of the first minute, in acc's unit."""
    m = time_s < time_s[0] + 60
    t, a = time_s[m], acc_mps2[m]
    norm = row_norms(a)
    edges = np.searchsorted(t, np.arange(t[0], t[-1], 1.0))
    best, value = float(np.std(norm)), float(np.median(norm))
    for i0, i1 in zip(edges[:-1], edges[1:]):
        if i1 - i0 <= 5:
            continue  # a second (nearly) without samples: a gap in the recording
        sd = float(norm[i0:i1].std())
        # A second without any noise is a frozen or zeroed output (a dropout), not standing still.
        if 0 < sd < best:
            best, value = sd, float(norm[i0:i1].mean())
    return value, best


def check_units(data: SensorData, acc_unit: str | None = None, gyr_unit: str | None = None) -> None:
    """Refuse units that physics contradicts, suggesting the right one.

    Standing still an accelerometer reads 1 g; the axes of one accelerometer
    spread alike in running; a runner's angular rate stays under ~30 rad/s.
    ``acc_unit``/``gyr_unit``: the unit the values were converted from, if an
    importer's option (the message then names the option to change).
    """
    src = data.source or data.role
    acc = data.acc_mps2[::10] if data.n >= 2000 else data.acc_mps2  # every 10th sample tells units as well
    spread = np.percentile(acc, 99, axis=0) - np.percentile(acc, 1, axis=0)
    if spread.min() > 0 and spread.max() / spread.min() > MIXED_UNIT_RATIO and spread.max() > GRAVITY_MPS2:
        odd = "xyz"[int(np.argmin(spread))]
        raise InputError(
            f"the acceleration axes disagree in scale (spread {', '.join(f'{v:.3g}' for v in spread)} m/s^2): the "
            f"{odd} axis looks like it is in another unit than the others (mixed units); export all axes in one unit",
            src)
    mean, std = quietest_second(data.time_s, data.acc_mps2)
    g = mean / GRAVITY_MPS2
    # Standing still (a quiet second) it reads 1 g; a recording that starts in motion averages 1-1.5 g
    # over its quietest second; g against m/s^2 is a factor 9.8 either way.
    lo, hi = (0.7, 1.3) if std < QUIET_STD_G * GRAVITY_MPS2 else (0.5, 2.5)
    if not lo < g < hi:
        unit = acc_unit or "mps2"
        raw = g * GRAVITY_MPS2 / ACC_UNITS[unit]
        guess = min(ACC_UNITS, key=lambda u: abs(np.log(max(raw, 1e-12) * ACC_UNITS[u] / GRAVITY_MPS2)))
        if guess == unit:
            raise InputError(f"at its quietest the acceleration reads {g:.2f} g, not about 1 g: check the "
                             "accelerometer's unit and calibration", src)
        fix = (f"use --acc-unit {guess}" if acc_unit else
               "the generic CSV wants m/s^2: convert it, or bring it in with "
               f"'stridesense import csv --acc-unit {guess}'")
        raise InputError(
            f"at its quietest the acceleration reads {raw:.3g} in {unit}, which is {g:.2f} g, not 1 g: the file looks "
            f"like it is in {guess}, not {unit}; {fix}", src)
    if data.gyr_radps is not None:
        gyr = data.gyr_radps[::10] if data.n >= 2000 else data.gyr_radps
        p99 = float(np.percentile(np.abs(gyr), 99))
        if p99 > 30:
            given = f" with --gyr-unit {gyr_unit}" if gyr_unit else ""
            fix = "use --gyr-unit dps" if gyr_unit else "convert to rad/s"
            raise InputError(f"angular rate reaches {p99:.0f} rad/s{given}: far beyond a runner's; the gyroscope "
                             f"looks like it is in deg/s, not rad/s ({fix})", src)


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
