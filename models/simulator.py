"""A runner wearing a pelvis and a trunk IMU, with ground truth per step.

The body model is a spring-mass runner: a vertical ground reaction force per
stance (a half-sine active peak plus an optional heel-strike impact hump,
scaled so that every step's vertical impulse equals body weight times step
time, or, with ``step_velocity_change_mps``, alternately more and less), a braking-then-propulsion fore-aft force and a medial sway force.
Pelvis and trunk orientations follow stride-periodic patterns (pelvic drop on
the swing side, anterior tilt, axial rotation against the trunk, forward trunk
lean) relative to a heading that turns along the route.  Sensors are mounted
at arbitrary orientations and see the specific force and angular rate in their
own frame, with soft-tissue wobble after each contact, sensor bounce, a pelvis
that is not in exact free fall during flight, bias, noise, quantisation and
saturation.

Ground truth is computed here from the model's own continuous signals,
by the definitions of METRICS.md; the analysis pipeline never sees it.

Frames: segment x forward, y left, z up; heading frame = world rotated about z
by the current heading; angles are ZYX (yaw, pitch, roll) of the segment in
the heading frame: roll = obliquity (+ = left side up), pitch = forward lean
or anterior tilt (+ = forward), yaw = axial rotation (+ = towards the left).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import butter, sosfilt
from scipy.spatial.transform import Rotation

from stridesense.imu.consts import GRAVITY_MPS2, STEP_COLUMNS
from stridesense.imu.data import SensorData, Session
from stridesense.models import sacrum

G = GRAVITY_MPS2
TRUTH_RATE_HZ = 1000.0
PELVIS_YAW_LAG = 0.1  # share of a step from contact to the pelvis' extreme axial rotation (real jogging: 0-0.2)


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes a simulated session; random parts follow ``seed``.

    Angles in degrees, times in s, accelerations in m/s^2 unless named
    otherwise.  ``None`` for a random draw within a realistic range.
    """

    seed: int = 0
    duration_s: float = 120.0
    standing_s: float = 6.0
    pelvis_rate_hz: float = 200.0
    trunk_rate_hz: float | None = 104.0
    trunk_start_offset_s: float | None = None
    mass_kg: float = 70.0
    cadence_spm: float | None = None
    speed_mps: float | None = None
    pelvic_drop_deg: tuple[float, float] | None = None  # (left stance, right stance)
    trunk_lean_deg: float | None = None
    pelvic_tilt_deg: float | None = None
    pelvic_rotation_deg: float | None = None  # peak-to-peak over a stride
    trunk_rotation_deg: float | None = None
    impact_hump: float | None = None  # heel-strike hump height, fraction of the active peak; 0 = forefoot
    braking_mps2: float | None = None
    contact_asymmetry: float | None = None  # relative L/R difference of contact time
    fatigue: float | None = None  # relative change of drop, lean and contact time by the end
    n_turns: int | None = None
    turn_lean: bool = True  # the body leans into turns (centripetal force)
    random_mount: bool = True
    acc_noise_mps2: float = 0.05
    gyr_noise_radps: float = 0.005
    acc_bias_mps2: float = 0.08
    gyr_bias_radps: float = 0.02
    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0
    wobble_g: float | None = None  # soft-tissue wobble after contact, peak, g
    bounce_g: float = 0.05  # sensor bounce (band-limited noise), RMS, g
    flight_accel_g: float = 0.08  # pelvis not in free fall during flight, g
    step_jitter: float = 0.02  # relative step-time variability
    # An outdoor route after the standing calibration: ("run" | "walk" | "stand",
    # duration_s[, speed_mps, cadence_spm]) in order; None = one run to the end.
    segments: tuple | None = None
    slip_s: float | None = None  # time at which a sensor slips to a new angle
    slip_deg: float = 15.0
    slip_role: str = "pelvis"
    # The knock that moves the clip (its truth in params["slip"]): the clip rattles about an axis drawn once
    # (a decaying 25-Hz swing, peak angle in degrees) and is pushed (one 30-ms cycle of acceleration, peak g).
    # 0 and 0: the sensor turns on the body smoothly, with no jolt (a jump of posture the analysis can't place).
    slip_jolt_deg: float = 2.0
    slip_jolt_g: float = 3.0
    # Real-run phenomena (issue 11), each with its truth: a recording that starts mid-run (no standing),
    # medio-lateral sway force (peak, m/s^2; 1.0 by default) and a slow random wander of trunk lean and
    # pelvic tilt (SD, degrees; a tired trunk, hills), which is posture, not a sensor slip.
    start_in_motion: bool = False
    sway_mps2: float = 1.0
    posture_wander_deg: float = 0.0
    # The pelvis sensor at the sacrum moves relative to the centre of mass (models.sacrum); off by default.
    sacral_tissue_hz: float | None = None  # natural frequency of the sensor on soft tissue, Hz (10-20); None: rigid
    sacral_tissue_damping: float = 0.3  # its damping ratio
    sacral_lever_m: tuple[float, float, float] | None = None  # sensor from the pelvis' centre of rotation, pelvis frame
    # Trunk sensor from the trunk's centre of rotation (the hip), trunk frame; None: the trunk sensor moves with the
    # pelvis' centre (the outside simulator puts it 0.3-0.5 m up, docs/metrics.md).
    trunk_lever_m: tuple[float, float, float] | None = None
    impact_width_s: float | None = None  # full width of the heel-strike impact transient, s (None: 0.06)
    # Left and right steps unlike (a force treadmill shows it): a left running step's impulse carries the body's
    # weight plus this much vertical velocity, a right one's as much less, m/s (0: every step carries body weight).
    step_velocity_change_mps: float = 0.0


@dataclass
class SimulatedSession:
    """A simulated session and what really happened.

    Attributes
    ----------
    session
        The sensors' samples (sensor frame, SI units) as an analysis would read them.
    truth
        Per-step ground truth, columns of METRICS.md's per-step table.
    mounts
        Per role, the rotation from the sensor frame to the segment frame (3x3).
    params
        The drawn parameters (cadence, speed, ...).
    """

    session: Session
    truth: pd.DataFrame
    mounts: dict[str, np.ndarray]
    params: dict = field(default_factory=dict)
    _runner: object = None

    def true_angles_rad(self, role: str, time_s: np.ndarray) -> np.ndarray:
        """(n, 3) true yaw (relative to heading), pitch and roll of a segment, rad."""
        return self._runner.angles(np.asarray(time_s, float))[role]


def _draw(cfg: SimConfig, rng: np.random.Generator) -> dict:
    """Resolve the random parts of the configuration."""

    def pick(value, lo, hi):
        return float(rng.uniform(lo, hi)) if value is None else value

    speed = pick(cfg.speed_mps, 2.5, 5.5)
    p = {
        "speed_mps": speed,
        "cadence_spm": pick(cfg.cadence_spm, 155.0, 195.0),
        "trunk_lean_deg": pick(cfg.trunk_lean_deg, 2.0, 14.0),
        "pelvic_tilt_deg": pick(cfg.pelvic_tilt_deg, -2.0, 6.0),
        "pelvic_rotation_deg": pick(cfg.pelvic_rotation_deg, 6.0, 16.0),
        "trunk_rotation_deg": pick(cfg.trunk_rotation_deg, 6.0, 16.0),
        "impact_hump": pick(cfg.impact_hump, 0.0, 0.7),
        "braking_mps2": pick(cfg.braking_mps2, 2.0, 5.0),
        "contact_asymmetry": pick(cfg.contact_asymmetry, -0.06, 0.06),
        "fatigue": pick(cfg.fatigue, 0.0, 0.25),
        "wobble_g": pick(cfg.wobble_g, 0.1, 0.5),
        "wobble_hz": float(rng.uniform(12.0, 25.0)),
        "n_turns": int(rng.integers(0, 3)) if cfg.n_turns is None else cfg.n_turns,
        "trunk_start_offset_s": pick(cfg.trunk_start_offset_s, -0.5, 0.5),
    }
    if cfg.pelvic_drop_deg is None:
        base = rng.uniform(2.0, 9.0)
        p["pelvic_drop_deg"] = (base, base * rng.uniform(0.7, 1.3))
    else:
        p["pelvic_drop_deg"] = tuple(cfg.pelvic_drop_deg)
    # Faster running: shorter contact (about 0.28 s at 2.5 m/s, 0.18 s at 6 m/s).
    p["contact_time_s"] = float(np.clip(0.35 - 0.03 * speed, 0.16, 0.30))
    return p


def _steps(cfg: SimConfig, p: dict, rng: np.random.Generator, t_run: float, t_end: float) -> pd.DataFrame:
    """Initial contacts, sides and per-step parameters of the whole run."""
    step_s = 60.0 / p["cadence_spm"]
    n_max = int((t_end - t_run) / (step_s * 0.9)) + 2
    jitter = 1.0 + cfg.step_jitter * np.clip(rng.standard_normal(n_max), -2.5, 2.5)
    step_times = step_s * jitter
    ic = t_run + np.concatenate([[0.0], np.cumsum(step_times)[:-1]])
    keep = ic < t_end - 2 * step_s
    ic, step_times = ic[keep], step_times[keep]
    n = ic.size
    first = rng.integers(0, 2)
    side = np.where((np.arange(n) + first) % 2 == 0, 1.0, -1.0)  # +1 left stance, -1 right
    progress = (ic - t_run) / max(t_end - t_run, 1e-9)
    fat = 1.0 + p["fatigue"] * progress
    tc = p["contact_time_s"] * (1 + side * p["contact_asymmetry"] / 2) * fat
    tc *= 1.0 + 0.02 * np.clip(rng.standard_normal(n), -2.5, 2.5)
    tc = np.minimum(tc, 0.8 * step_times)
    drop_l, drop_r = p["pelvic_drop_deg"]
    drop = np.where(side > 0, drop_l, drop_r) * fat * (1 + 0.08 * rng.standard_normal(n))
    lean = p["trunk_lean_deg"] * fat + 0.3 * rng.standard_normal(n)
    return pd.DataFrame(
        {"ic_s": ic, "step_s": step_times, "tc_s": tc, "side": side, "drop_deg": drop, "lean_deg": lean}
    )


WALK_CADENCE_SPM = 110.0
WALK_DUTY = 0.62  # stance share of a walking step (double support: > 0.5)


def _route_steps(cfg: SimConfig, p: dict, rng: np.random.Generator, t_start: float) -> pd.DataFrame:
    """Steps along an outdoor route: running bouts, walking breaks and stops."""
    rows = []
    t = t_start
    side = 1.0 if rng.integers(0, 2) == 0 else -1.0
    t_first_run = None
    total_run = sum(seg[1] for seg in cfg.segments if seg[0] == "run") or 1.0
    run_done = 0.0
    drop_l, drop_r = p["pelvic_drop_deg"]
    for seg in cfg.segments:
        kind, dur = seg[0], float(seg[1])
        if kind not in ("run", "walk", "stand"):
            raise ValueError(f"route segment kind must be run, walk or stand, not {kind!r}")
        if kind == "stand":
            t += dur
            continue
        if kind == "run":
            speed = float(seg[2]) if len(seg) > 2 else p["speed_mps"]
            cadence = float(seg[3]) if len(seg) > 3 else p["cadence_spm"]
            tc0 = float(np.clip(0.35 - 0.03 * speed, 0.16, 0.30))
        else:
            speed = float(seg[2]) if len(seg) > 2 else 1.3
            cadence = float(seg[3]) if len(seg) > 3 else WALK_CADENCE_SPM
        step_s = 60.0 / cadence
        t_end = t + dur
        while t + step_s <= t_end:
            T = step_s * (1.0 + cfg.step_jitter * float(np.clip(rng.standard_normal(), -2.5, 2.5)))
            if kind == "run":
                if t_first_run is None:
                    t_first_run = t
                fat = 1.0 + p["fatigue"] * (run_done / total_run)
                tc = tc0 * (1 + side * p["contact_asymmetry"] / 2) * fat * (1 + 0.02 * float(rng.standard_normal()))
                drop = (drop_l if side > 0 else drop_r) * fat * (1 + 0.08 * float(rng.standard_normal()))
                lean = p["trunk_lean_deg"] * fat + 0.3 * float(rng.standard_normal())
                amp = 1.0
                run_done += T
            else:
                tc = WALK_DUTY * T
                drop = 0.4 * (drop_l if side > 0 else drop_r)
                lean = 0.3 * p["trunk_lean_deg"]
                amp = 0.5
            rows.append({"ic_s": t, "step_s": T, "tc_s": min(tc, 0.8 * T) if kind == "run" else tc, "side": side,
                         "drop_deg": drop, "lean_deg": lean, "kind": kind, "speed_mps": speed, "amp": amp})
            t += T
            side = -side
        t = max(t, t_end)
    return pd.DataFrame(rows)


class _Runner:
    """The continuous body model: heading, segment angles and forces at any time."""

    def __init__(self, cfg: SimConfig, p: dict, steps: pd.DataFrame, t_run: float, rng: np.random.Generator):
        self.cfg, self.p, self.t_run = cfg, p, t_run
        self.ic = steps["ic_s"].to_numpy()
        self.T = steps["step_s"].to_numpy()
        self.tc = steps["tc_s"].to_numpy()
        self.side = steps["side"].to_numpy()
        self.drop = np.radians(steps["drop_deg"].to_numpy())
        self.lean = np.radians(steps["lean_deg"].to_numpy())
        self.walk = (steps["kind"] == "walk").to_numpy() if "kind" in steps else np.zeros(self.ic.size, bool)
        self.speed = steps["speed_mps"].to_numpy() if "speed_mps" in steps else np.full(self.ic.size, p["speed_mps"])
        self.amp = steps["amp"].to_numpy() if "amp" in steps else np.ones(self.ic.size)
        # Moving stretches: contiguous steps; each starts with a push-off flight when it starts running.
        ends = self.ic + self.T
        brk = np.flatnonzero(np.abs(self.ic[1:] - ends[:-1]) > 1e-9) + 1
        first = np.concatenate([[0], brk]) if self.ic.size else np.array([], int)
        last = np.concatenate([brk - 1, [self.ic.size - 1]]) if self.ic.size else np.array([], int)
        self.stretches = [(self.ic[a], ends[b], not self.walk[a]) for a, b in zip(first, last)]
        self.first_of_stretch = np.zeros(self.ic.size, bool)
        self.first_of_stretch[first] = True
        # Vertical force per step: alpha * (half sine + impact hump), with the
        # step's vertical impulse equal to body weight times step time.
        self.hump_s = (cfg.impact_width_s or 0.06) / 2  # the hump rises over hump_s, falls over hump_s
        dv = np.where(self.walk, 0.0, self.side * cfg.step_velocity_change_mps)  # momentum gained over the step
        self.alpha = (G * self.T + dv) / (2 * self.tc / np.pi + p["impact_hump"] * self.hump_s)
        self.single_run = cfg.segments is None
        # Turns: smooth yaw-rate humps; radius >= 20 m keeps them runnable.
        self.turns = []
        run_len = self.ic[-1] - t_run if self.ic.size else 0.0
        for i in range(p["n_turns"]):
            angle = rng.choice([-1, 1]) * rng.uniform(np.pi / 3, np.pi)
            max_rate = p["speed_mps"] / 20.0
            dur = max(2 * abs(angle) / max_rate, 6.0)
            start = t_run + 10 + (i + rng.uniform(0.2, 0.8)) * max(run_len - 20 - dur, 1) / max(p["n_turns"], 1)
            self.turns.append((start, dur, angle))
        self.heading0 = rng.uniform(-np.pi, np.pi)
        self.fw = p["wobble_hz"]

    # -- time structure ---------------------------------------------------
    def _step_index(self, t):
        k = np.searchsorted(self.ic, t, side="right") - 1
        running = (k >= 0) & (k < self.ic.size)
        kk = np.clip(k, 0, max(self.ic.size - 1, 0))
        tau = t - self.ic[kk]
        running &= tau < self.T[kk]
        return kk, tau, running

    def envelope(self, t):
        """0 standing, 1 moving: smooth ramps over 1.5 s after a start and 1 s after a stop."""
        def smooth(x):
            x = np.clip(x, 0.0, 1.0)
            return x * x * (3 - 2 * x)

        if self.single_run:
            return smooth((t - self.t_run) / 1.5)
        env = np.zeros_like(t)
        for start, end, _ in self.stretches:
            env = np.maximum(env, smooth((t - start) / 1.5) * smooth((end + 1.0 - t) / 1.0))
        return env

    def heading(self, t):
        """Heading (rad) and its rate (rad/s)."""
        psi = np.full_like(t, self.heading0)
        rate = np.zeros_like(t)
        for start, dur, angle in self.turns:
            x = np.clip(t - start, 0.0, dur)
            psi += angle / dur * (x - dur / (2 * np.pi) * np.sin(2 * np.pi * x / dur))
            inside = (t > start) & (t < start + dur)
            rate += np.where(inside, angle / dur * (1 - np.cos(2 * np.pi * x / dur)), 0.0)
        return psi, rate

    def wander(self, t):
        """Slow posture wander (rad): smooth noise with a ~20-s time scale, SD cfg.posture_wander_deg."""
        if not self.cfg.posture_wander_deg:
            return np.zeros_like(t)
        knots_t = np.arange(-40.0, self.cfg.duration_s + 80.0, 20.0)
        knots = np.random.default_rng(self.cfg.seed + 7).standard_normal(knots_t.size)
        from scipy.interpolate import CubicSpline

        return np.radians(self.cfg.posture_wander_deg) * CubicSpline(knots_t, knots)(t)

    # -- segment angles ---------------------------------------------------
    def angles(self, t):
        """ZYX angles (yaw, pitch, roll) of pelvis and trunk in the heading frame, rad."""
        kk, tau, running = self._step_index(t)
        env = self.envelope(t)
        T, tc, s = self.T[kk], self.tc[kk], self.side[kk]
        u = np.clip(tau / T, 0.0, 1.0)
        # Drop shape: zero with zero slope at both contacts, peak near mid-stance.
        xp = np.clip(0.55 * tc / T, 0.15, 0.6)
        a = 2.0
        b = a * (1 - xp) / xp
        shape = (u**a) * ((1 - u) ** b) / ((xp**a) * ((1 - xp) ** b))
        shape = np.where(running, shape, 0.0)
        p = self.p
        # Amplitudes change from step to step continuously (walking is gentler).
        amp = np.interp(t, self.ic, self.amp) if self.ic.size else np.ones_like(t)
        pelvis_roll = s * self.drop[kk] * shape
        wander = self.wander(t)
        pelvis_pitch = (np.radians(p["pelvic_tilt_deg"]) * amp + np.radians(2.0) * amp * np.cos(2 * np.pi * u)
                        + 0.5 * wander)
        # Axial rotation, one cycle a stride.  At a left contact the pelvis is turned to the left (right side
        # forward) and turns right through the left stance, most turned PELVIS_YAW_LAG of a step after
        # contact: so on ten real jogging trials (SisFall, a waist IMU; median over each trial's strides) and in
        # the outside simulator's stances, not the walking textbook's stance side forward at contact.  The
        # trunk counter-rotates against the pelvis (METRICS.md; the outside simulator's trunk too).
        rot = s * np.cos(np.pi * (u - PELVIS_YAW_LAG))
        pelvis_yaw = np.radians(p["pelvic_rotation_deg"]) * amp / 2 * rot
        trunk_yaw = -np.radians(p["trunk_rotation_deg"]) * amp / 2 * rot
        # Lean changes from step to step, continuously (a jump would be an infinite rate).
        lean = np.interp(t, self.ic, self.lean) + wander
        trunk_pitch = lean + np.radians(1.5) * np.cos(2 * np.pi * u + 0.8)
        trunk_roll = -s * np.radians(2.0) * shape
        out = {}
        for name, (yaw, pitch, roll) in {
            "pelvis": (pelvis_yaw, pelvis_pitch, pelvis_roll),
            "trunk": (trunk_yaw, trunk_pitch, trunk_roll),
        }.items():
            out[name] = np.column_stack([yaw, pitch, roll]) * env[:, None]
        if self.cfg.turn_lean:
            _, rate = self.heading(t)
            speed = np.interp(t, self.ic, self.speed) if self.ic.size else np.full_like(t, self.p["speed_mps"])
            lean = -np.arctan2(speed * rate, G)
            for name in out:
                out[name][:, 2] += lean
        return out

    def rotation(self, t, segment: str) -> Rotation:
        """Segment-to-world rotation."""
        ang = self.angles(t)[segment]
        psi, _ = self.heading(t)
        return Rotation.from_euler("ZYX", np.column_stack([psi + ang[:, 0], ang[:, 1], ang[:, 2]]))

    # -- forces -----------------------------------------------------------
    def specific_force_heading(self, t):
        """Centre-of-mass specific force in the heading frame, m/s^2 (flight = 0)."""
        kk, tau, running = self._step_index(t)
        tc = self.tc[kk]
        stance = running & (tau < tc)
        x = np.clip(tau / tc, 0, 1)
        hump = np.where(tau < 2 * self.hump_s, np.sin(np.pi * np.clip(tau, 0, None) / (2 * self.hump_s)) ** 2, 0.0)
        fz = self.alpha[kk] * (np.sin(np.pi * x) + self.p["impact_hump"] * hump)
        fx = -self.p["braking_mps2"] * np.sin(2 * np.pi * x) * (tc / self.p["contact_time_s"])
        fy = -self.side[kk] * self.cfg.sway_mps2 * np.sin(np.pi * x)
        f = np.column_stack([fx, fy, fz]) * stance[:, None]
        walking = running & self.walk[kk]
        if walking.any():
            # Walking: no flight; the vertical force swings about body weight once a step.
            ph = 2 * np.pi * tau[walking] / self.T[kk][walking]
            f[walking] = np.column_stack([1.5 * np.sin(ph), -self.side[kk][walking] * 0.6 * np.sin(ph / 2),
                                          G * (1 + 0.22 * np.sin(ph - np.pi / 2))])
            stance = stance & ~walking
        if self.single_run:
            # The runner pushes off into a flight before the first contact.
            standing = ~running & (t < (self.ic[0] - 0.12 if self.ic.size else np.inf))
            after = ~running & (t >= (self.ic[-1] if self.ic.size else -np.inf))
            f[standing | after, 2] = G
        else:
            still = ~running
            for start, _, is_run in self.stretches:
                if is_run:  # push-off flight before a run from standing
                    still &= ~((t >= start - 0.12) & (t < start))
            f[still, 2] = G
        _, rate = self.heading(t)
        speed = self.speed[kk]
        f[:, 1] += speed * rate * running  # centripetal, towards the turn
        return f, stance


def _mount(rng: np.random.Generator, random_mount: bool, role: str) -> Rotation:
    """Sensor-to-segment rotation of a clip-on sensor."""
    if not random_mount:
        return Rotation.identity()
    # Any orientation at all: clips go on upside down and sideways.
    return Rotation.random(random_state=int(rng.integers(0, 2**31)))


KNOCK_RATTLE_HZ = 25.0
KNOCK_DECAY_S = 0.03
KNOCK_PUSH_S = 0.03


def _knock(tau_s: np.ndarray, peak_deg: float) -> np.ndarray:
    """Rattle angle (rad) of a knocked clip, ``tau_s`` after the knock: a decaying 25-Hz swing."""
    tau = np.asarray(tau_s, dtype=float)
    on = tau >= 0
    return np.radians(peak_deg) * on * np.exp(-np.where(on, tau, 0) / KNOCK_DECAY_S) * np.sin(
        2 * np.pi * KNOCK_RATTLE_HZ * tau)


def _sensor(
    runner: _Runner, role: str, t: np.ndarray, mount: Rotation, cfg: SimConfig, p: dict, rng: np.random.Generator
) -> SensorData:
    """What a sensor mounted on ``role`` measures at times ``t``."""
    h = 2e-4

    def mount_at(tt):
        if not slipping:
            return mount
        # The clip slides to a new angle within 0.4 s, about an axis drawn once, and rattles as it is knocked.
        x = np.clip((tt - cfg.slip_s) / 0.4, 0.0, 1.0)
        x = x * x * (3 - 2 * x)
        slide = Rotation.from_rotvec(np.outer(x, slip_axis) * np.radians(cfg.slip_deg))
        return mount * slide * Rotation.from_rotvec(np.outer(_knock(tt - cfg.slip_s, cfg.slip_jolt_deg), jolt_axis))

    slipping = cfg.slip_s is not None and role == cfg.slip_role
    axes = np.random.default_rng(cfg.seed + 99).normal(size=(3, 3))
    slip_axis, jolt_axis, push_dir = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    r_ws = runner.rotation(t, role) * mount_at(t)  # sensor to world
    r_minus = runner.rotation(t - h, role) * mount_at(t - h)
    r_plus = runner.rotation(t + h, role) * mount_at(t + h)
    gyr = (r_minus.inv() * r_plus).as_rotvec() / (2 * h)  # body (sensor) frame
    f_h, stance = runner.specific_force_heading(t)
    psi, _ = runner.heading(t)
    running = runner.envelope(t) > 0
    kk, tau, _ = runner._step_index(t)
    # Soft-tissue wobble after each contact, mostly vertical (heading frame).
    walk = runner.walk[kk] if runner.ic.size else np.zeros(t.size, bool)
    wobble = p["wobble_g"] * G * np.exp(-tau / 0.03) * np.sin(2 * np.pi * runner.fw * tau) * running
    wobble *= np.where(walk, 0.3, 1.0)  # heel strikes in walking shake the skin less
    if role == "trunk":
        wobble *= 0.6
    pert = np.zeros_like(f_h)
    pert[:, 2] += wobble
    pert[:, 0] += 0.3 * wobble
    # The pelvis is not in free fall in flight: the swing leg pulls on it
    # (one zero-mean cycle per flight, so the runner neither gains nor loses speed).
    flight = running & ~stance & ~walk
    tc = runner.tc[kk]
    v = np.clip((tau - tc) / np.maximum(runner.T[kk] - tc, 1e-3), 0, 1)
    pert[:, 2] += cfg.flight_accel_g * G * np.sin(2 * np.pi * v) * flight
    pert[:, 0] += 0.5 * cfg.flight_accel_g * G * np.sin(4 * np.pi * v) * flight
    if role == "pelvis":
        pert += _sacral_offset_heading(runner, t, cfg)
    f_w = Rotation.from_euler("Z", psi[:, None]).apply(f_h + pert)
    if role == "pelvis" and cfg.sacral_lever_m is not None:
        f_w += sacrum.lever_arm_world(lambda tt: runner.rotation(tt, "pelvis"), t, cfg.sacral_lever_m)
    if role == "trunk" and cfg.trunk_lever_m is not None:
        f_w += sacrum.lever_arm_world(lambda tt: runner.rotation(tt, "trunk"), t, cfg.trunk_lever_m)
    # Bounce: band-limited noise of a loose clip.
    fs = 1.0 / np.median(np.diff(t))
    sos = butter(2, [min(8.0, 0.4 * fs), min(30.0, 0.45 * fs)], btype="band", fs=fs, output="sos")
    bounce = sosfilt(sos, rng.standard_normal((t.size, 3)), axis=0)
    bounce *= cfg.bounce_g * G / max(bounce.std(), 1e-12)
    f_w += bounce * running[:, None]
    if slipping:  # the push of the knock: one cycle, so the sensor ends where the body takes it
        u = (t - cfg.slip_s) / KNOCK_PUSH_S
        f_w += np.outer(cfg.slip_jolt_g * G * np.sin(2 * np.pi * u) * ((u >= 0) & (u < 1)), push_dir)
    acc = r_ws.inv().apply(f_w)
    acc += rng.normal(0, cfg.acc_bias_mps2, 3) + rng.normal(0, cfg.acc_noise_mps2, acc.shape)
    gyr += rng.normal(0, cfg.gyr_bias_radps, 3) + rng.normal(0, cfg.gyr_noise_radps, gyr.shape)
    acc_range = cfg.acc_range_g * G
    gyr_range = np.radians(cfg.gyr_range_dps)
    acc = np.clip(np.round(acc / (acc_range / 32768)) * (acc_range / 32768), -acc_range, acc_range)
    gyr = np.clip(np.round(gyr / (gyr_range / 32768)) * (gyr_range / 32768), -gyr_range, gyr_range)
    meta = {"simulated": True, "acc_range_g": cfg.acc_range_g, "gyr_range_dps": cfg.gyr_range_dps}
    return SensorData(time_s=t, acc_mps2=acc, gyr_radps=gyr, role=role, source=f"simulated {role}", meta=meta)


def _sacral_offset_heading(runner: _Runner, t: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """(n, 3) the sacral sensor's specific force minus the centre of mass', soft tissue only, heading frame."""
    if cfg.sacral_tissue_hz is None or t.size == 0:
        return np.zeros((t.size, 3))
    return sacrum.tissue_offset_heading(runner, t, cfg.sacral_tissue_hz, cfg.sacral_tissue_damping)


def _truth(runner: _Runner, steps: pd.DataFrame, has_trunk: bool) -> pd.DataFrame:
    """Per-step truth from the model's continuous signals, by METRICS.md's definitions."""
    ic, T, tc, side = runner.ic, runner.T, runner.tc, runner.side
    n_steps = ic.size - 1  # the last contact has no next one
    t = np.arange(ic[0] - 0.5, ic[-1] + T[-1], 1.0 / TRUTH_RATE_HZ)
    f_h, _ = runner.specific_force_heading(t)
    ang = runner.angles(t)
    dt = 1.0 / TRUTH_RATE_HZ
    az = f_h[:, 2] - G
    vz = np.cumsum(az) * dt
    z = np.cumsum(vz) * dt
    vx = np.cumsum(f_h[:, 0]) * dt
    fmag = np.linalg.norm(f_h, axis=1) / G
    rows = []
    contiguous = np.abs(ic[1:] - (ic[:-1] + T[:-1])) < 1e-9  # step k runs straight into step k+1
    run = ~runner.walk

    def linked(k):  # step k is a running step whose stance follows a flight and has a next contact
        return 0 <= k < n_steps and run[k] and contiguous[k]

    bout = 0
    for k in range(n_steps):
        if not linked(k):
            continue
        after_flight = runner.first_of_stretch[k] or (k > 0 and contiguous[k - 1] and run[k - 1])
        if not after_flight:
            continue  # the first running contact after walking has no flight before it
        if not (k > 0 and linked(k - 1) and contiguous[k - 1]) or runner.first_of_stretch[k]:
            bout += 1
        i0, i_to, i1 = (np.searchsorted(t, x) for x in (ic[k], ic[k] + tc[k], ic[k + 1]))
        if k + 2 < ic.size and run[k + 1] and contiguous[k + 1]:
            j0, j1 = k, k + 2
        else:
            j0, j1 = k - 1, k + 1
        s0, s1 = np.searchsorted(t, ic[j0]), np.searchsorted(t, ic[j1])
        bw = f_h[i0:i_to, 2] / G
        peak_idx = _first_local_max(bw)
        peak = bw[peak_idx]
        t20 = _crossing_time(bw[: peak_idx + 1], 0.2 * peak) * dt
        t80 = _crossing_time(bw[: peak_idx + 1], 0.8 * peak) * dt
        zz = z[i0:i1 + 1]
        detrended = zz - np.linspace(zz[0], zz[-1], zz.size)
        sign = side[k]
        pelvis, trunk = ang["pelvis"], ang["trunk"]
        row = {
            "side": "L" if sign > 0 else "R",
            "ic_s": ic[k],
            "to_s": ic[k] + tc[k],
            "contact_time_ms": tc[k] * 1e3,
            "flight_time_ms": (ic[k + 1] - ic[k] - tc[k]) * 1e3,
            "step_time_s": ic[k + 1] - ic[k],
            "cadence_spm": 60.0 / (ic[k + 1] - ic[k]),
            "pelvic_drop_deg": np.degrees(np.max(sign * pelvis[i0:i_to, 2])),
            "trunk_lean_deg": np.degrees(np.mean(trunk[i0:i1, 1])) if has_trunk else np.nan,
            "peak_vgrf_bw": float(bw.max()),
            "loading_rate_bw_s": 0.6 * peak / (t80 - t20) if t80 > t20 else np.nan,
            "peak_acc_g": float(fmag[i0:i_to].max()),
            "vertical_oscillation_cm": float(np.ptp(detrended) * 100),
            "braking_mps": float(vx[i0] - vx[i0:i_to].min()),
            "pelvic_rotation_deg": np.degrees(np.ptp(pelvis[s0:s1, 0])),
            "pelvis_trunk_rotation_deg": np.degrees(np.ptp(trunk[s0:s1, 0] - pelvis[s0:s1, 0])) if has_trunk else np.nan,
            "pelvic_tilt_deg": np.degrees(np.mean(pelvis[i0:i1, 1])),
            "quality": "ok",
            "bout": bout,
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=[*STEP_COLUMNS, "bout"])


def _sensor_peaks_g(runner: _Runner, truth: pd.DataFrame, cfg: SimConfig) -> np.ndarray:
    """Per step, the peak vertical specific force the pelvis sensor itself feels in stance (no noise), g.

    Above ``peak_vgrf_bw`` where the sacrum's own motion (models.sacrum) rides
    on top; without it, ``peak_vgrf_bw`` (the older model's wobble and bounce
    are left out).
    """
    if truth.empty or (cfg.sacral_tissue_hz is None and cfg.sacral_lever_m is None):
        return truth["peak_vgrf_bw"].to_numpy(dtype=float)
    t = np.arange(truth.ic_s.iloc[0], truth.to_s.iloc[-1], 1.0 / TRUTH_RATE_HZ)
    f_h, _ = runner.specific_force_heading(t)
    fz = f_h[:, 2] + _sacral_offset_heading(runner, t, cfg)[:, 2]
    if cfg.sacral_lever_m is not None:
        fz += sacrum.lever_arm_world(lambda tt: runner.rotation(tt, "pelvis"), t, cfg.sacral_lever_m)[:, 2]
    i0, i1 = np.searchsorted(t, truth.ic_s), np.searchsorted(t, truth.to_s)
    return np.array([fz[a:max(b, a + 1)].max() / G for a, b in zip(i0, i1)])


def _first_local_max(x: np.ndarray) -> int:
    """Index of the first local maximum of ``x`` standing out by 0.1 BW (METRICS.md, docs/metrics.md)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(x, prominence=0.1)
    return int(peaks[0]) if peaks.size else int(np.argmax(x))


def _crossing_time(x: np.ndarray, level: float) -> float:
    """Fractional index where ``x`` first rises through ``level``."""
    i = int(np.argmax(x >= level))
    if i == 0:
        return 0.0
    return i - 1 + (level - x[i - 1]) / (x[i] - x[i - 1])


def simulate_session(cfg: SimConfig = SimConfig()) -> SimulatedSession:
    """Simulate a session: standing calibration, then running.

    Parameters
    ----------
    cfg
        The session's configuration; random parts follow ``cfg.seed``.

    Returns
    -------
    SimulatedSession
        Sensor samples (sensor frame, SI units) and per-step ground truth.
    """
    rng = np.random.default_rng(cfg.seed)
    p = _draw(cfg, rng)
    # A recording that starts mid-run: the running began 3 s before the first sample.
    t_run = -3.0 if cfg.start_in_motion else cfg.standing_s + 0.3
    if cfg.segments is None:
        steps = _steps(cfg, p, rng, t_run, cfg.duration_s)
    else:
        steps = _route_steps(cfg, p, rng, t_run)
    runner = _Runner(cfg, p, steps, t_run, rng)
    mounts = {}
    sensors = {}
    roles = [("pelvis", cfg.pelvis_rate_hz, 0.0)]
    if cfg.trunk_rate_hz:
        roles.append(("trunk", cfg.trunk_rate_hz, p["trunk_start_offset_s"]))
    for role, rate, offset in roles:
        t0 = max(offset, 0.0) + rng.uniform(0, 1.0 / rate)
        t = t0 + np.arange(int((cfg.duration_s - t0) * rate)) / rate
        mount = _mount(rng, cfg.random_mount, role)
        mounts[role] = mount.as_matrix()  # sensor -> segment: v_segment = M @ v_sensor
        sensors[role] = _sensor(runner, role, t, mount, cfg, p, rng)
    truth = _truth(runner, steps, has_trunk="trunk" in sensors)
    if cfg.start_in_motion:  # steps before the first sample are not in the recording
        truth = truth[truth.ic_s >= 0.15].reset_index(drop=True)
    truth["sensor_peak_vert_g"] = _sensor_peaks_g(runner, truth, cfg)
    if cfg.slip_s is not None:  # the slip's own truth: when, how far, and the knock's peaks
        tau = np.arange(0, 0.3, 1e-4)
        rate = np.abs(np.gradient(_knock(tau, cfg.slip_jolt_deg), tau)).max()
        p["slip"] = {"t_s": cfg.slip_s, "role": cfg.slip_role, "deg": cfg.slip_deg,
                     "jolt_rate_dps": float(np.degrees(rate)), "jolt_acc_g": cfg.slip_jolt_g}
    session = Session(
        pelvis=sensors["pelvis"], trunk=sensors.get("trunk"), mass_kg=cfg.mass_kg, runner=f"simulated-{cfg.seed}",
        meta={"simulated": True, "seed": cfg.seed},
    )
    return SimulatedSession(session=session, truth=truth, mounts=mounts, params=p, _runner=runner)


def write_simulation(sim: SimulatedSession, outdir: str | Path) -> dict[str, Path]:
    """Write a simulated session as generic CSVs plus ``truth_steps.csv`` and ``params.json``."""
    import json

    from stridesense.streaming.generic_csv import write_sensor_csv

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {"pelvis": write_sensor_csv(sim.session.pelvis, outdir / "pelvis.csv")}
    if sim.session.trunk is not None:
        paths["trunk"] = write_sensor_csv(sim.session.trunk, outdir / "trunk.csv")
    paths["truth"] = outdir / "truth_steps.csv"
    sim.truth.to_csv(paths["truth"], index=False, float_format="%.6f")
    paths["params"] = outdir / "params.json"
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sim.params.items()}
    params["mass_kg"] = sim.session.mass_kg
    params["mounts_sensor_to_segment"] = {k: np.round(v, 6).tolist() for k, v in sim.mounts.items()}
    paths["params"].write_text(json.dumps(params, indent=1))
    return paths


__all__ = ["SimConfig", "SimulatedSession", "simulate_session", "write_simulation", "replace"]
