"""The analysis pipeline: sensor chunks in, per-step rows out; the wiring between the parts.

One code path serves offline analysis (stridesense.api pushes a minute at a
time), live streaming (a few packets at a time) and replay (any speed):

    analyzer = Analyzer(mass_kg=70)
    analyzer.push(pelvis=chunk, trunk=chunk)   # -> steps completed so far (DataFrame)
    analyzer.flush()                           # -> the rest

Per sensor (`SensorTrack`): uniform resampling, neutral (a standing period
anywhere, or the mean running posture; imu.calibration), the impact-robust
orientation filter (imu.fusion), the forward axis from the first 20 s of
running, segment angles, and the mount watch (imu.mounting.MountWatch).
Then the pelvis' contacts, bouts and sides (imu.contacts.ContactTracker),
the remarks known before the metrics (models.quality), and each step whose
stride is complete is measured (models.steps).  Every decision depends on
the samples only, never on where chunks were cut, so chunked and whole
analyses agree to floating-point tolerance (tests/test_pipeline.py).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stridesense.errors import AnalysisError, CalibrationError, InputError
from stridesense.imu import calibration as cal
from stridesense.imu import mounting
from stridesense.imu.activity import classify_activity
from stridesense.imu.consts import GRAVITY_MPS2, TABLE_COLUMNS, TRUNK_COLUMNS
from stridesense.imu.buffers import GrowingArray
from stridesense.imu.data import SensorData
from stridesense.imu.contacts import ContactTracker, stance_cues
from stridesense.imu.events import CONTACT_SETTLE_S, MAX_STEP_S, lowpass
from stridesense.imu.fusion import GravityOnlyFilter, OrientationFilter, half_sample_earlier, rotate
from stridesense.imu.resample import find_gaps, interpolate, uniform_grid
from stridesense.models.contact_time import STANCE_CUTOFF_HZ
from stridesense.models.segments import segment_angles
from stridesense.models.quality import GAP_SETTLE_S, MOVE_NEAR_S, known_remarks
from stridesense.models.steps import SegmentSignals, step_rows

CALIBRATION_RUNNING_S = 20.0  # running used to find each sensor's forward axis
CALIBRATE_EVERY_S = 2.0  # live: a calibration not possible yet is tried again after this much more data
WARM_UP_S = 3.0  # the throw-away filter starts this long before the running it measures
SLIP_CHECKS_AFTER_S = 15.0  # slip checks start this long after running does (the filter settles first)
LOOKBACK_S = 6.0  # signal context kept before the first step still to emit
SETTLE_S = CONTACT_SETTLE_S  # contacts are final once this far from the newest sample
SATURATION_MIN_MPS2 = 1.2 * GRAVITY_MPS2  # flat tops above 1.2 g are taken for a clipped axis (2 g sensors clip when running)
# ...but only at the largest magnitude the axis has read (within this share): nothing reads beyond a range, and a
# smooth peak can hold one quantised value for three samples (sisfall-dev, 16 g range and peaks of 2-7 g: 22 such
# flat tops at 13-26 m/s^2, none at its axis' largest value; sim-external: 4, at 2.3 g of a 16 g range).
SATURATION_TOP_SHARE = 0.995
DETECT_EVERY_S = 0.2  # live: a step's row at most this long after its data are in
TRUNK_WAIT_S = 60.0  # live: steps wait for the trunk's calibration while it has less data than this
TRUNK_SILENT_S = 10.0  # live: a trunk silent this long (link lost) is not waited for: the pelvis' steps go on
FORGET_EVERY_S = 60.0  # live: signals no step can need any more are dropped this often ...
FORGET_MARGIN_S = 30.0  # ... keeping this much more than the steps still to come need
IMPACT_CUTOFF_HZ = 30.0  # impact value and slope (the heel-strike rise lasts ~30 ms)
IMPACT_LOCATE_CUTOFF_HZ = 20.0  # locates the impact peak through soft-tissue wobble


def no_running_message(time_s: np.ndarray, acc_mps2: np.ndarray, rate_hz: float) -> str:
    """Why a recording gives no steps: what it holds instead."""
    found = classify_activity(time_s, acc_mps2, rate_hz).describe()
    return (f"no running found in {time_s[-1] - time_s[0]:.0f} s of data ({found}); stridesense analyses running "
            "(a flight phase between steps)")


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TABLE_COLUMNS) if rows else _empty_steps()


def _empty_steps() -> pd.DataFrame:
    """An empty step table (built from a cached template: this is the common live answer)."""
    return _EMPTY_STEPS.copy(deep=False)


_EMPTY_STEPS = pd.DataFrame(columns=TABLE_COLUMNS)


@dataclass
class SensorTrack:
    """One sensor through resampling, calibration and orientation.

    Attributes (after calibration)
    ------------------------------
    rate_hz
        Analysis rate (the sensor's nominal rate).
    standing
        The standing calibration.
    alignment
        3x3, segment axes in sensor coordinates.
    forward_confidence
        Share of running windows that agreed on the forward sign.
    obliquity_from_running_deg
        The standing period's obliquity off the mean running posture, deg, when
        it was too far off to be level standing and obliquity's zero came from
        running instead (cal.MAX_STANDING_OBLIQUITY_DEG); else None.
    """

    role: str
    rate_hz: float | None = None
    t0: float | None = None
    standing: cal.StandingCalibration | None = None
    alignment: np.ndarray | None = None
    forward_confidence: float = float("nan")
    obliquity_from_running_deg: float | None = None  # set when a still period was not level standing
    has_gyro: bool = True
    saturation_mps2: float | None = None
    _acc_top_mps2: np.ndarray = field(default_factory=lambda: np.zeros(3))  # largest |specific force| per axis so far
    gaps: list = field(default_factory=list)
    source: str = ""
    _filter: OrientationFilter | GravityOnlyFilter | None = None
    _n_fused: int = 0
    _q_last: np.ndarray | None = None  # the filter's last quaternion, float64 (the stored ones are float32)
    _gaps_checked: int = 0
    _tried_s: float = -np.inf
    prepared: bool = False  # offline: neutral was looked for in the whole recording (prepare)
    screen_jolts: bool = False  # live: the mount watch screens for jolts (steps near one wait for its checks)
    _watch: mounting.MountWatch | None = None
    # Samples as received, and processed arrays on the uniform grid from the start of standing on,
    # both append-only so that live pushes cost what they add, not what came before.
    _raw: dict = field(default_factory=lambda: {"t": GrowingArray(), "acc": GrowingArray(3), "gyr": GrowingArray(3)})
    # Processed signals are kept in float32 (7 significant digits: far below the sensors' noise) so that
    # an hour of two sensors stays well inside memory; sample times stay float64.
    _out: dict = field(default_factory=lambda: {
        "t": GrowingArray(), "acc": GrowingArray(3, np.float32), "quat": GrowingArray(4, np.float32),
        "angles": GrowingArray(3, np.float32), "f_world": GrowingArray(3, np.float32)})

    time_s = property(lambda self: self._out["t"].view, doc="(n,) uniform sample times, s")
    acc = property(lambda self: self._out["acc"].view, doc="(n, 3) specific force, sensor frame, m/s^2")
    quat = property(lambda self: self._out["quat"].view, doc="(n, 4) sensor-to-world quaternions")
    angles = property(lambda self: self._out["angles"].view, doc="(n, 3) segment yaw, pitch, roll, rad")
    f_world = property(lambda self: self._out["f_world"].view, doc="(n, 3) specific force, world frame, m/s^2")

    def add(self, chunk: SensorData) -> None:
        if chunk.n == 0:
            return
        raw_t = self._raw["t"].view
        if raw_t.size and chunk.time_s[0] <= raw_t[-1]:
            raise InputError("chunk starts before the previous one ended: time must increase", chunk.source)
        if not raw_t.size:
            self.has_gyro, self.source = chunk.has_gyro, chunk.source or self.role
        elif chunk.has_gyro != self.has_gyro:
            raise InputError("a sensor's chunks must all have, or all lack, a gyroscope", chunk.source)
        self._raw["t"].append(chunk.time_s)
        self._raw["acc"].append(chunk.acc_mps2)
        self._acc_top_mps2 = np.maximum(self._acc_top_mps2, np.abs(chunk.acc_mps2).max(axis=0))
        if chunk.has_gyro:
            self._raw["gyr"].append(chunk.gyr_radps)
        if self.saturation_mps2 is None and "acc_range_g" in chunk.meta:
            self.saturation_mps2 = float(chunk.meta["acc_range_g"]) * GRAVITY_MPS2

    def reserve(self, n_samples: int) -> None:
        """Room for a session of ``n_samples`` (offline analysis knows it): no re-allocation on the way."""
        for buf in (*self._raw.values(), *self._out.values()):
            buf.reserve(n_samples + 16)

    def adopt(self, data: SensorData) -> None:
        """Offline: the whole sensor is in memory already; its chunks, pushed in order, are not copied again."""
        # Reserving the raw buffers too, though adopted at once, measured 4-5 MB less peak memory on
        # an hour (their large free moves glibc's mmap threshold up): kept.
        self.reserve(data.n)
        self._raw["t"].adopt(data.time_s)
        self._raw["acc"].adopt(data.acc_mps2)
        if data.n:
            self._acc_top_mps2 = np.maximum(self._acc_top_mps2, np.abs(data.acc_mps2).max(axis=0))
        if data.has_gyro:
            self._raw["gyr"].adopt(data.gyr_radps)

    def release(self) -> None:
        """Drop the samples and processed signals (the calibration stays)."""
        for buf in (*self._raw.values(), *self._out.values()):
            buf.clear()

    def forget_before(self, t_s: float) -> None:
        """Live: drop the samples and processed signals before ``t_s`` (memory stays flat over hours).

        Nothing is dropped before the calibration, nor while a slip waits for its new alignment.
        """
        if self.alignment is None or self.pending_mount_s is not None:
            return
        raw_t = self._raw["t"].view
        j = min(int(np.searchsorted(raw_t, t_s)) - 2, self._gaps_checked - 2)
        if j > 0:
            for buf in self._raw.values():
                buf.drop_front(j)
            self._gaps_checked -= j
        i = int(np.searchsorted(self.time_s, t_s))
        if i > 0:
            for buf in self._out.values():
                buf.drop_front(i)

    def raw_data(self, j0: int = 0, j1: int | None = None) -> SensorData:
        """The samples received (or rows j0:j1 of them), as one SensorData (no copy)."""
        raw = self._raw
        return SensorData(raw["t"].view[j0:j1], raw["acc"].view[j0:j1],
                          raw["gyr"].view[j0:j1] if self.has_gyro else None, self.role, self.source)

    @property
    def has_data(self) -> bool:
        return len(self._raw["t"]) > 0

    def raw_span_s(self) -> float:
        """Seconds from the first to the last sample received."""
        t = self._raw["t"].view
        return float(t[-1] - t[0]) if t.size else 0.0

    def advance(self, final: bool) -> None:
        """Calibrate when possible, then fuse every new uniform sample."""
        if not self.has_data:
            return
        raw_t = self._raw["t"].view
        if self.rate_hz is None:
            if raw_t.size < 1000 and not final:
                return
            if raw_t.size < 2:
                raise InputError("has fewer than two samples", self.source)
            self.rate_hz = 1.0 / float(np.median(np.diff(raw_t[:1000])))
            self.t0 = float(raw_t[0])
        if self.alignment is None and not self._calibrate(final):
            return
        grid = uniform_grid(self.t0, raw_t[-1], self.rate_hz, start_index=self._n_fused)
        new = grid
        if new.size == 0:
            return
        # Only the received samples around the new grid points are needed.
        j0 = max(int(np.searchsorted(raw_t, new[0])) - 1, 0)
        j1 = int(np.searchsorted(raw_t, new[-1])) + 1
        raw = self.raw_data(j0, j1)
        acc, gyr = interpolate(raw, new)
        _snap_to_samples(new, raw, acc, gyr)
        res = self._filter.push(acc) if gyr is None else self._filter.push(gyr, acc)
        self._n_fused += new.size
        # The specific force at the orientation of its own sample time (a gyroscope's runs half a sample ahead).
        q_f = half_sample_earlier(res.quat, self._q_last) if gyr is not None else res.quat
        self._q_last = res.quat[-1].copy()
        f_w = rotate(q_f, acc)
        ang = segment_angles(res.quat, self.alignment)
        if self.angles.size:
            # Keep yaw continuous across chunks (unwrap restarts in each chunk).
            ang[:, 0] += 2 * np.pi * np.round((self.angles[-1, 0] - ang[0, 0]) / (2 * np.pi))
        out = self._out
        for key, value in (("t", new), ("acc", acc), ("quat", res.quat), ("angles", ang), ("f_world", f_w)):
            out[key].append(value)
        j = max(self._gaps_checked - 1, 0)
        self.gaps += find_gaps(raw_t[j:], self.rate_hz)
        self._gaps_checked = raw_t.size
        if self.has_gyro:
            self._check_mount(final)

    @property
    def neutral_source(self) -> str:
        """How neutral (0 lean, obliquity, tilt) was found, in words."""
        st = self.standing
        if st is None:
            return "not yet known"
        if st.from_standing:
            text = f"standing still {st.t_start_s - (self.t0 or 0.0):.1f}-{st.t_end_s - (self.t0 or 0.0):.1f} s"
            if self.obliquity_from_running_deg is not None:
                text += (f"; obliquity from the running posture (the still period sat "
                         f"{self.obliquity_from_running_deg:+.1f} deg off level)")
            return text
        span = "whole recording" if self.prepared else f"first {CALIBRATION_RUNNING_S:.0f} s of running"
        return f"mean running posture, {span} (no standing period found)"

    @property
    def pending_mount_s(self) -> float | None:
        """Time of a detected slip whose new alignment is not known yet."""
        return self._watch.pending_s if self._watch is not None else None

    @property
    def mount_changes(self) -> list[float]:
        """Times (s) the sensor moved on the body."""
        return self._watch.changes_s if self._watch is not None else []

    @property
    def posture_jumps(self) -> list[float]:
        """Times (s) the posture jumped with no jolt (flagged, not re-aligned)."""
        return self._watch.jumps_s if self._watch is not None else []

    def _check_mount(self, final: bool) -> None:
        """Let the mount watch see the new samples; re-align after a slip."""
        found = self._watch.push(self.time_s, self.angles, self.f_world, self.quat, self.acc, self.alignment,
                                 self.rate_hz, final=final)
        if found is None:
            return
        t_slip, new = found
        i = int(np.searchsorted(self.time_s, t_slip))
        ang = segment_angles(self.quat[i:], new)
        ang[:, 0] += 2 * np.pi * np.round((self.angles[i, 0] - ang[0, 0]) / (2 * np.pi))
        self.angles[i:] = ang
        self.alignment = new

    def prepare(self, data: SensorData) -> None:
        """Offline, first pass: neutral from a standing period anywhere in the whole recording.

        The early running is then analysed with a calibration found later
        (a runner who sets off at once and stands still at the end).
        """
        if data.n < 2:
            return
        fs = 1.0 / float(np.median(np.diff(data.time_s[:1000])))
        # The same uniform grid as the analysis (advance): the same neutral as a live run would find.
        grid = uniform_grid(float(data.time_s[0]), data.time_s[-1], fs)
        acc, gyr = interpolate(data, grid)
        if cal.running_windows(acc, fs).size:
            # No standing period anywhere: the mean running posture of the whole recording (a live run
            # takes the first CALIBRATION_RUNNING_S of running's: tried offline too, it raised `turning` and
            # `pelvis_leaning` on the real jogging set, 25.8 -> 28.7 % and 34.5 -> 36.5 % of steps).
            self.standing = self._neutral(grid, acc, gyr, fs, data.source)
        self.prepared = True

    @staticmethod
    def _neutral(time_s, acc, gyr, fs, source) -> cal.StandingCalibration:
        """Standing neutral if there is a standing period; else the mean running posture."""
        up_running = cal.running_vertical(acc, fs)
        try:
            return cal.standing_calibration(time_s, acc, gyr, fs, source=source, up_running=up_running)
        except CalibrationError:
            return cal.fallback_calibration(time_s, acc, gyr, source=source, sampling_rate_hz=fs)

    def _calibrate(self, final: bool) -> bool:
        data = self.raw_data()
        fs = self.rate_hz
        if not final and data.time_s[-1] - self._tried_s < CALIBRATE_EVERY_S:
            return False  # live: try again once more data is in (each try reads all of it)
        self._tried_s = float(data.time_s[-1])
        grid = uniform_grid(self.t0, data.time_s[-1], fs)
        acc, gyr = interpolate(data, grid)
        # The first CALIBRATION_RUNNING_S of running, wherever it starts, gives the forward axis (and,
        # live, neutral too): everything is decided on the data up to its end, whatever came in since.
        starts = cal.running_windows(acc, fs)
        n_need = int(CALIBRATION_RUNNING_S / (cal.FORWARD_WINDOW_S / 2))
        if starts.size < n_need and not final:
            return False
        if starts.size == 0:
            raise AnalysisError(f"{data.source or self.role}: {no_running_message(grid, acc, fs)}")
        w = int(cal.FORWARD_WINDOW_S * fs)
        i1 = int(starts[min(n_need, starts.size) - 1]) + w
        i0 = max(int(starts[0] - WARM_UP_S * fs), 0)
        if self.standing is None:
            self.standing = self._neutral(grid[:i1], acc[:i1], None if gyr is None else gyr[:i1], fs, data.source)
        st = self.standing
        res = self._new_filter().push(acc[i0:i1]) if gyr is None else self._new_filter().push(gyr[i0:i1], acc[i0:i1])
        try:
            fwd, conf = cal.forward_axis(res.quat, acc[i0:i1], st.up_sensor, fs)
        except CalibrationError as e:
            raise AnalysisError(f"{data.source or self.role}: no running found ({e})") from None
        self.alignment = cal.segment_alignment(st.up_sensor, fwd)
        self.forward_confidence = conf
        if st.from_standing:
            # A still period that was not level standing: obliquity's zero from the running posture instead.
            tilt = float(np.degrees(np.mean(segment_angles(res.quat[int(starts[0]) - i0:], self.alignment)[:, 2])))
            if abs(tilt) > cal.MAX_STANDING_OBLIQUITY_DEG:
                self.alignment = cal.level_obliquity(self.alignment, tilt)
                self.obliquity_from_running_deg = tilt
        # Slip checks start once the filter has settled in the first strides.
        self._watch = mounting.MountWatch(self.t0, float(grid[starts[0]]) + SLIP_CHECKS_AFTER_S,
                                          CALIBRATION_RUNNING_S)
        self._watch.screen = self.screen_jolts
        self._filter = self._new_filter()
        return True

    def _new_filter(self):
        st = self.standing
        if self.has_gyro:
            return OrientationFilter(self.rate_hz, st.gyr_bias_radps, st.gravity_sensor_mps2,
                                     hold_turns=st.from_standing)
        return GravityOnlyFilter(self.rate_hz, st.gravity_sensor_mps2)

    def signals(self, t_from: float, t_to: float, *, impact: bool = True) -> SegmentSignals:
        """Processed signals between two times (filters applied over this span).

        ``impact=False`` leaves out the low-passed vertical force, which only
        the pelvis' impact metrics use.
        """
        i0 = int(np.searchsorted(self.time_s, t_from))
        i1 = int(np.searchsorted(self.time_s, t_to))
        fs = self.rate_hz
        f_w = self.f_world[i0:i1]
        ang = self.angles[i0:i1]
        acc = self.acc[i0:i1]
        if self.saturation_mps2:
            sat = (np.abs(acc) >= 0.995 * self.saturation_mps2).any(axis=1)
        else:
            # Range unknown: a clipped axis shows as a flat top (the same large value three samples running)
            # at the largest magnitude the axis has read.
            flat = np.zeros_like(acc, dtype=bool)
            top = np.abs(acc[1:-1]) >= np.maximum(SATURATION_TOP_SHARE * self._acc_top_mps2, SATURATION_MIN_MPS2)
            flat[1:-1] = (acc[1:-1] == acc[:-2]) & (acc[1:-1] == acc[2:]) & top
            sat = flat.any(axis=1)
        lp = smooth = stance = None
        if impact:
            lp, smooth, stance = (lowpass(f_w[:, 2], cutoff, fs) if i1 - i0 > 30 else f_w[:, 2]
                                  for cutoff in (IMPACT_CUTOFF_HZ, IMPACT_LOCATE_CUTOFF_HZ, STANCE_CUTOFF_HZ))
        return SegmentSignals(
            time_s=self.time_s[i0:i1],
            angles_rad=ang,
            f_world_mps2=f_w,
            f_vert_lp_mps2=lp,
            f_vert_smooth_mps2=smooth,
            saturated=sat,
            f_vert_stance_mps2=stance,
        )


class Analyzer:
    """Push sensor chunks, get completed steps; flush at the end.

    Parameters
    ----------
    mass_kg
        Runner's body mass, kg (kept with the results; BW units do not need it).
    two_threads
        Fuse the trunk sensor in a second thread while the pelvis is fused
        (the compiled filters release the GIL): worth it for long chunks
        (offline), not for the live pipeline's 0.1-s pushes.  Call
        :meth:`release` at the end to stop the thread.
    forget
        Drop signals older than any step still to come needs, every minute
        (live) or chunk (offline), so that memory stays flat however long the
        session (an hour offline: 80 MB less peak memory, the same table).
    hold_for_checks
        Offline: each step waits until the slip checks around it have run
        (about 10 s of data after it), so that where chunks are cut never
        decides whether a step after a slip is re-aligned.  Live (False),
        only the steps near a jolt (imu.mounting.JOLT_SCREEN_RATIO) wait for
        them, and rows come within a second.
    """

    def __init__(self, mass_kg: float = 70.0, *, two_threads: bool = False, forget: bool = False,
                 hold_for_checks: bool = False):
        self.forget = forget
        self.hold_for_checks = hold_for_checks
        self._t_forgot = -np.inf
        if not 20 <= mass_kg <= 250:
            raise InputError(f"body mass {mass_kg} kg is not plausible (20-250 kg)")
        self.mass_kg = mass_kg
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="stridesense-trunk") if two_threads else None
        self.pelvis = SensorTrack("pelvis", screen_jolts=not hold_for_checks)
        self.trunk = SensorTrack("trunk", screen_jolts=not hold_for_checks)
        self._has_trunk = False
        self.contacts = ContactTracker()  # contacts made final, with bouts and sides
        self._n_emitted = 0
        self._t_detected = -np.inf
        self.steps_: list[dict] = []

    # -- public ------------------------------------------------------------
    def push(self, pelvis: SensorData | None = None, trunk: SensorData | None = None) -> pd.DataFrame:
        """Add the next chunk of either sensor; return the steps now complete."""
        return _frame(self.feed(pelvis, trunk))

    def flush(self) -> pd.DataFrame:
        """End of session: return every step not returned yet."""
        return _frame(self.feed_last())

    def feed(self, pelvis: SensorData | None = None, trunk: SensorData | None = None) -> list[dict]:
        """As :meth:`push`, the new steps as rows (no table built for each chunk)."""
        if pelvis is not None:
            self.pelvis.add(pelvis)
        if trunk is not None:
            self._has_trunk = True
            self.trunk.add(trunk)
        return self._run(final=False)

    def feed_last(self) -> list[dict]:
        """As :meth:`flush`, the last steps as rows."""
        if not self.pelvis.has_data:
            raise InputError("no pelvis data was given")
        return self._run(final=True)

    def release(self) -> None:
        """Free the processed signals and stop the second thread once the session is done.

        The steps and calibrations stay.
        """
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self.pelvis.release()
        self.trunk.release()

    @property
    def steps(self) -> pd.DataFrame:
        """Every step returned so far."""
        return pd.DataFrame(self.steps_, columns=TABLE_COLUMNS)

    # -- internals ---------------------------------------------------------
    def _run(self, final: bool) -> list[dict]:
        # The trunk is fused in the second thread (if any) while the pelvis is fused and its
        # contacts are found: contact detection needs the pelvis alone.
        trunk = self._pool.submit(self.trunk.advance, final) if self._has_trunk and self._pool is not None else None
        try:
            t_avail = self._pelvis_contacts(final)
        finally:
            self._finish_trunk(trunk, final)
        if t_avail is None:
            return []
        rows = self._measure(t_avail, final)
        self.steps_.extend(rows)
        if self.forget and not final and t_avail - self._t_forgot >= FORGET_EVERY_S:
            self._forget_old(t_avail)
        return rows

    def _forget_old(self, t_avail: float) -> None:
        """Drop what no step still to come can need: before the detection's look-back, the first
        contact without a side, the stride before the first step not measured, and the posture checks."""
        self._t_forgot = t_avail
        c = self.contacts
        keep = [c.lookback_from(-np.inf)]
        if len(c.side) < len(c.ic_s):
            keep.append(c.ic_s[max(len(c.side) - 1, 0)])  # side cues are relative to the neighbours'
        if self._n_emitted < len(c.ic_s):
            keep.append(c.ic_s[max(self._n_emitted - 1, 0)] - LOOKBACK_S)
        span = mounting.GAP_S + mounting.WINDOW_S
        keep += [tr._watch.next_check_s - 3 * span for tr in (self.pelvis, self.trunk)
                 if tr._watch is not None and np.isfinite(tr._watch.next_check_s)]
        t_keep = min(keep) - FORGET_MARGIN_S
        self.pelvis.forget_before(t_keep)
        self.trunk.forget_before(t_keep)

    def _pelvis_contacts(self, final: bool) -> float | None:
        """Fuse the pelvis' new samples and find contacts when due; the newest time covered, or None."""
        p = self.pelvis
        p.advance(final)
        if p.alignment is None or p.time_s.size == 0:
            return None
        t_avail = p.time_s[-1]
        # Live pushes come every ~0.1 s; contacts are looked for every DETECT_EVERY_S of new data.
        if not final and t_avail - self._t_detected < DETECT_EVERY_S:
            return None
        self._t_detected = t_avail
        self._detect(np.inf if final else t_avail - SETTLE_S, final)
        return t_avail

    def _finish_trunk(self, pending: Future | None, final: bool) -> None:
        """Wait for the trunk's fusion (or run it here); a trunk that fails at the end is left out."""
        if pending is not None:
            wait([pending])  # never leave the thread working on a track while an error propagates
        if not self._has_trunk:
            return
        try:
            pending.result() if pending is not None else self.trunk.advance(final)
        except (CalibrationError, AnalysisError) as e:
            if not final:
                raise
            warnings.warn(f"trunk sensor left out: {e}", stacklevel=4)
            self._has_trunk = False

    def _detect(self, horizon: float, final: bool) -> None:
        """Contacts with IC before ``horizon`` made final, with their sides."""
        p = self.pelvis
        i0 = int(np.searchsorted(p.time_s, self.contacts.lookback_from(p.time_s[0])))
        # Without a gyroscope the instantaneous vertical is unknown; the magnitude
        # of the specific force has the same flight and stance levels.
        force = p.f_world[i0:, 2] if p.has_gyro else np.linalg.norm(p.f_world[i0:], axis=1)
        self.contacts.push(p.time_s[i0:], force, p.rate_hz, horizon,
                           lambda ic, to: stance_cues(p.time_s, p.angles, p.f_world, p.has_gyro, ic, to),
                           final=final)

    def _hold_from(self, t_avail: float) -> float:
        """Steps from this contact time on wait: a slip found and not yet re-aligned, or checks still to run."""
        hold = np.inf
        for tr in (self.pelvis, self.trunk):
            w = tr._watch
            if w is None or (tr is self.trunk and (not self._has_trunk or not tr.time_s.size
                                                   or t_avail - tr.time_s[-1] >= TRUNK_SILENT_S)):
                continue  # a trunk lost for good holds nothing up
            if w.pending_s is not None:
                # The slip is placed up to two check spans after the first check that saw the jump.
                hold = min(hold, w.pending_s - 2 * (mounting.GAP_S + mounting.WINDOW_S))
            elif self.hold_for_checks:
                hold = min(hold, w.next_check_s - MOVE_NEAR_S)  # a later slip starts at or after its check
            elif w.open_jolt_s is not None:
                hold = min(hold, w.open_jolt_s - mounting.JOLT_NEAR_S - MOVE_NEAR_S)
        return hold

    def _measure(self, t_avail: float, final: bool) -> list[dict]:
        """Rows for steps whose stride and data are complete."""
        # A step needs its own side and the contacts of its stride (final), not the next ones' sides
        # (which wait for their own neighbours): live rows come a step sooner.
        c = self.contacts
        n_side, n_ic = len(c.side), len(c.ic_s)
        ic = np.array(c.ic_s)
        to = np.array(c.to_s)
        side = np.array(c.side)
        ks = []
        hold_from = np.inf if final else self._hold_from(t_avail)
        for k in range(self._n_emitted, min(n_side, n_ic - 1)):
            if ic[k] >= hold_from:
                break  # the sensor moved: these steps wait for the new alignment
            if ic[k + 1] - ic[k] > MAX_STEP_S or not c.flight_after[k]:
                continue  # the last contact of a bout starts no running step
            stride_end = ic[k + 2] if k + 2 < n_ic and ic[k + 2] - ic[k + 1] <= MAX_STEP_S else ic[k + 1]
            if not final:
                if stride_end + 1.0 > t_avail:
                    break
                if k + 2 >= n_ic:
                    break  # the next contact decides whether this stride continues
                trunk = self.trunk
                if self._has_trunk and trunk.alignment is None and trunk.raw_span_s() < TRUNK_WAIT_S:
                    break  # calibrated a little later than the pelvis (its samples come in bigger packets)
                if (self._has_trunk and trunk.alignment is not None
                        and (not trunk.time_s.size or trunk.time_s[-1] < stride_end + 1.0)
                        and t_avail - (trunk.time_s[-1] if trunk.time_s.size else t_avail) < TRUNK_SILENT_S):
                    break  # the trunk's samples for this stride are still to come (a link lost: not for long)
            ks.append(k)
        if not ks:
            return []
        last = ks[-1]
        self._n_emitted = last + 1
        t_from, t_to = ic[ks[0]] - LOOKBACK_S / 2, ic[min(last + 2, n_ic - 1)] + 1.0
        pel = self.pelvis.signals(t_from, t_to)
        has_trunk = self._has_trunk and self.trunk.alignment is not None
        tr = self.trunk.signals(t_from, t_to, impact=False) if has_trunk else None
        # A trunk lost for longer than live waits for it is `trunk_missing` (its values empty), not a `gap` of
        # the whole step: the same rule live (which cannot wait for it) and offline.
        trunk_gaps = self.trunk.gaps if self._has_trunk else []
        long_trunk_gaps = [g for g in trunk_gaps if g[1] - g[0] > TRUNK_SILENT_S]
        if self._has_trunk and self.trunk.has_data:
            last = float(self.trunk.raw_data().time_s[-1])
            if t_avail - last >= TRUNK_SILENT_S:  # silent now (live), or ended for good (offline): a long gap
                long_trunk_gaps.append((last, np.inf))
        gaps = self.pelvis.gaps + [g for g in trunk_gaps if g[1] - g[0] <= TRUNK_SILENT_S]
        k = np.asarray(ks, dtype=np.int64)
        watched = [self.pelvis] + ([self.trunk] if self._has_trunk else [])
        moves = [t for tr in watched for t in tr.mount_changes]
        jumps = [t for tr in watched for t in tr.posture_jumps]
        reasons = known_remarks(ic, to, k, edge_ok=np.array(c.edge_ok), sides_agree=np.array(c.agree), gaps_s=gaps,
                                moves_s=moves, jumps_s=jumps, has_gyro=self.pelvis.has_gyro)
        # Each step's stride stays inside its bout: this step and the next, or, for the last
        # step of a bout, the previous one (if in the bout) and this one.
        has_next2 = k + 2 < n_ic
        has_next2[has_next2] = ic[k[has_next2] + 2] - ic[k[has_next2] + 1] <= MAX_STEP_S
        has_prev = k > 0
        has_prev[has_prev] = ic[k[has_prev]] - ic[k[has_prev] - 1] <= MAX_STEP_S
        j0 = np.where(has_next2, k, np.where(has_prev, k - 1, k))
        j1 = np.where(has_next2, k + 2, k + 1)
        rows = step_rows(
            ic, to, side, defaultdict(list, reasons), k, pel, tr,
            self.pelvis.rate_hz, pelvis_has_gyro=self.pelvis.has_gyro, trunk_has_gyro=self.trunk.has_gyro,
            trunk_reason="trunk_missing" if self._has_trunk else None, strides=(j0, j1),
            # Without standing the gyroscope's bias comes from running and the vertical drifts (docs/metrics.md).
            level_on_mean_force=not self.pelvis.standing.from_standing,
        )
        tracks = [self.pelvis] + ([self.trunk] if has_trunk else [])
        # Without a standing period (live: before the end of the calibration's running; offline: anywhere)
        # neutral is the mean running posture: live, of the first CALIBRATION_RUNNING_S of running; offline, of
        # the whole recording.
        neutral = "standing" if all(t.standing.from_standing for t in tracks) else "running_posture"
        _trunk_lost(rows, ic[k], ic[j1] + 1.0, long_trunk_gaps)  # a row reads up to 1 s after its stride
        for k, row in zip(ks, rows):
            row["bout"] = c.bout[k]
            row["neutral"] = neutral
        return rows


def _trunk_lost(rows: list[dict], ic_s: np.ndarray, read_to_s: np.ndarray, long_gaps: list) -> None:
    """Steps whose data (from GAP_SETTLE_S before the contact to ``read_to_s``) meet a long trunk gap: trunk
    values out, `trunk_missing` (live, whether such a step came out before or after the trunk was back would
    otherwise decide its values)."""
    if not long_gaps or not rows:
        return
    g = np.asarray(long_gaps, dtype=float).reshape(-1, 2)
    hit = ((g[None, :, 0] < read_to_s[:, None]) & (g[None, :, 1] > ic_s[:, None] - GAP_SETTLE_S)).any(axis=1)
    for row in (r for r, h in zip(rows, hit) if h):
        for column in TRUNK_COLUMNS:
            row[column] = float("nan")
        reasons = [q for q in str(row["quality"]).split(";") if q and q != "ok"]
        if "trunk_missing" not in reasons:
            row["quality"] = ";".join(reasons + ["trunk_missing"])


def _snap_to_samples(grid_s: np.ndarray, raw: SensorData, acc: np.ndarray, gyr: np.ndarray | None) -> None:
    """Grid points on a sample's time (within rounding) take that sample's values, in place.

    Interpolated, such a point took the interval on one side or the other depending on whether the next
    sample was in yet: 1e-12 apart between chunkings, which the filter's turn test (a threshold) turned
    into 0.1 deg of trunk angle.
    """
    t = raw.time_s
    k = np.clip(np.searchsorted(t, grid_s), 1, max(t.size - 1, 1))
    near = np.where(np.abs(t[k - 1] - grid_s) <= np.abs(t[np.minimum(k, t.size - 1)] - grid_s), k - 1,
                    np.minimum(k, t.size - 1))
    on = np.abs(t[near] - grid_s) < 1e-9
    if on.any():
        acc[on] = raw.acc_mps2[near[on]]
        if gyr is not None:
            gyr[on] = raw.gyr_radps[near[on]]
