"""The compiled per-step metrics against the pure per-step functions they twin."""

import copy

import numpy as np
import pytest

from stridesense.api import analyze_session
from stridesense.imu.consts import GRAVITY_MPS2 as G
from stridesense.models import steps
from stridesense.models.contact_time import MIN_STANCE_S, UNPLACED_FLAG, combine, toe_off_s
from stridesense.models.impact import choose_peak, first_local_max, impact_metrics
from stridesense.models.steps import (
    LEANING_DEG,
    LEANING_FLAG,
    MIN_LOADING_RATE_HZ,
    TURNING_DEG_PER_STRIDE,
    braking_mps,
    heading_change_deg,
    linear_fit,
    rotation_shifts,
    step_weights,
    stride_rotation_deg,
    vertical_error_rad,
    vertical_oscillation_cm,
)


def reference_rows(ic_s, to_s, side, reasons, k_range, pelvis, trunk, sampling_rate_hz, *, pelvis_has_gyro=True,
                   trunk_has_gyro=True, trunk_reason="trunk_missing", strides=None, level_on_mean_force=False):
    """The per-step loop over the pure functions of models.steps and models.impact (numpy, one step at a time)."""
    fs = sampling_rate_hz
    rows = []
    n_ic = ic_s.size
    for r, k in enumerate(k_range):
        ic, to, nxt = ic_s[k], to_s[k], ic_s[k + 1]
        if pelvis.f_vert_stance_mps2 is not None:
            wave = toe_off_s(pelvis.time_s, pelvis.f_vert_stance_mps2 / G, np.array([ic]), np.array([nxt]))
            to = combine(np.array([to]), wave, np.array([ic]), np.array([nxt]))[0]
        if not ic + MIN_STANCE_S <= to <= nxt:
            to = np.nan
        to_window = to if np.isfinite(to) else to_s[k]
        j0, j1 = strides[0][r], strides[1][r]
        i_ic, i_to, i_next = pelvis.index(ic), pelvis.index(to_window), pelvis.index(nxt)
        s0, s1 = pelvis.index(ic_s[j0]), pelvis.index(ic_s[j1])
        back, ahead = (int(x[0]) for x in rotation_shifts(pelvis.time_s, ic_s, np.array([j0]), np.array([j1])))
        sign = 1.0 if side[k] == "L" else -1.0
        reason = list(reasons[k])
        ang = pelvis.angles_rad
        stance = slice(i_ic, max(i_to, i_ic + 1))
        step = slice(i_ic, max(i_next, i_ic + 2))
        lo, w = step_weights(pelvis.time_s, ic, nxt, fs)
        f_vert = pelvis.f_vert_lp_mps2
        impact = impact_metrics(f_vert[stance] / G, fs, pelvis.f_vert_smooth_mps2[stance] / G)
        f_w = pelvis.f_world_mps2
        # Heading: the stride's linear trend of pelvis yaw (its own rotation averages out);
        # without a gyroscope the levelled frame does not turn, and the trend is flat.
        t_stride = pelvis.time_s[s0:s1]
        slope, offset = linear_fit(t_stride - ic, ang[s0:s1, 0]) if s1 - s0 > 3 else (0.0, ang[i_ic, 0])
        heading = offset + slope * (pelvis.time_s[stance] - ic)
        a_fwd = f_w[stance, 0] * np.cos(heading) + f_w[stance, 1] * np.sin(heading)
        acc_norm = np.linalg.norm(f_w[stance], axis=1)
        turned = abs(heading_change_deg(ang[:, 0], i_ic, s1 - s0))
        if pelvis_has_gyro and turned > TURNING_DEG_PER_STRIDE:
            reason.append("turning")
        if pelvis.saturated[stance].any():
            reason.append("saturated")
        level = 0.0
        if level_on_mean_force and s1 - s0 > 3 and turned <= TURNING_DEG_PER_STRIDE:
            mid = 0.5 * (pelvis.time_s[s0] + pelvis.time_s[s1 - 1]) - ic
            level = vertical_error_rad(f_w[s0:s1], offset + slope * mid)
        drop = float(np.max(sign * (ang[stance, 2] + level)))
        lean = float(np.mean(ang[s0:s1, 2]) + level) if s1 - s0 > 3 else 0.0
        if pelvis_has_gyro and abs(lean) > np.radians(LEANING_DEG):
            reason.append(LEANING_FLAG)
        if not np.isfinite(to):
            reason.append(UNPLACED_FLAG)
        impulse = f_vert[stance].sum() / fs / (G * (nxt - ic))
        # The step's own impulse: its mean vertical specific force over its stride's.
        f_step = f_w[i_ic:i_next, 2].astype(float).mean()
        f_stride = f_w[s0:s1, 2].astype(float).mean()
        covered = pelvis.time_s[0] <= ic_s[j0] and ic_s[j1] <= pelvis.time_s[-1]
        own = f_step / f_stride if covered else 1.0
        step_impulse = own if 0.8 <= own <= 1.2 else 1.0
        peak, model = choose_peak(np.array([impact.peak_bw]), np.array([to - ic]), np.array([nxt - ic]),
                                  np.array([impulse]), step_impulse)
        pelvis_is_com = model[0] == "pelvis_acc" and fs >= MIN_LOADING_RATE_HZ
        row = {
            "side": side[k],
            "ic_s": ic,
            "to_s": to,
            "contact_time_ms": (to - ic) * 1e3,
            "flight_time_ms": (nxt - to) * 1e3,
            "step_time_s": nxt - ic,
            "cadence_spm": 60.0 / (nxt - ic),
            "pelvic_drop_deg": float(np.degrees(drop)) if pelvis_has_gyro else np.nan,
            "trunk_lean_deg": np.nan,
            "peak_vgrf_bw": float(peak[0]),
            "loading_rate_bw_s": impact.loading_rate_bw_s if pelvis_is_com else np.nan,
            "peak_acc_g": float(acc_norm.max() / G),
            "vertical_oscillation_cm": vertical_oscillation_cm(f_w[lo:lo + w.size, 2] - G, w, fs),
            "braking_mps": braking_mps(a_fwd, fs),
            "pelvic_rotation_deg": stride_rotation_deg(ang[:, 0], s0, s1, back, ahead) if pelvis_has_gyro else np.nan,
            "pelvis_trunk_rotation_deg": np.nan,
            "pelvic_tilt_deg": float(np.degrees(np.mean(ang[step, 1]))),
        }
        if trunk is not None:
            a0, a1 = trunk.index(ic), trunk.index(nxt)
            t_step = slice(a0, a1)
            if a1 - a0 >= 3 and trunk.time_s[0] <= ic and trunk.time_s[-1] >= ic_s[j1]:
                row["trunk_lean_deg"] = float(np.degrees(np.mean(trunk.angles_rad[t_step, 1])))
                if pelvis_has_gyro and trunk_has_gyro:
                    # On the pelvis clock, over the stride and its shifts as far as the trunk covers them.
                    m = s1 - s0
                    e0, e1 = s0 - min(back, m, s0), s1 + min(ahead, m, ang.shape[0] - s1)
                    t_p = pelvis.time_s
                    while e0 < s0 and t_p[e0] < trunk.time_s[0]:
                        e0 += 1
                    while e1 > s1 and t_p[e1 - 1] > trunk.time_s[-1]:
                        e1 -= 1
                    rel = np.interp(t_p[e0:e1], trunk.time_s, trunk.angles_rad[:, 0]) - ang[e0:e1, 0]
                    row["pelvis_trunk_rotation_deg"] = stride_rotation_deg(rel, s0 - e0, s1 - e0, s0 - e0, e1 - s1)
                if trunk.saturated[t_step].any() and "saturated" not in reason:
                    reason.append("saturated")
            elif trunk_reason:
                reason.append(trunk_reason)
        elif trunk_reason:
            reason.append(trunk_reason)
        row["quality"] = ";".join(dict.fromkeys(reason)) or "ok"
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def captured(sim_short):
    """The arguments of every step_rows call while analysing a session."""
    calls = []
    original = steps.step_rows

    def spy(*args, **kwargs):
        # Copies: the signals are views into the pipeline's buffers, which it reuses once their steps are out.
        calls.append(copy.deepcopy((args, kwargs)))
        return original(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr("stridesense.pipeline.step_rows", spy)
    try:
        analyze_session(sim_short.session)
    finally:
        mp.undo()
    return calls


def test_compiled_step_metrics_match_the_per_step_functions(captured):
    n = 0
    for args, kwargs in captured:
        got = steps.step_rows(*args, **kwargs)
        want = reference_rows(*args, **kwargs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g["quality"] == w["quality"] and g["side"] == w["side"]
            for col, value in w.items():
                if isinstance(value, float):
                    # The pipeline keeps its signals in float32; numpy then computes in float32 where
                    # the kernel computes in float64: they agree to float32's precision.
                    assert g[col] == pytest.approx(value, rel=1e-5, abs=1e-5, nan_ok=True), col
            n += 1
    assert n > 150


def test_compiled_levelling_on_the_mean_force_matches_the_per_step_functions(captured):
    # The same session's steps with the levelling of sessions without standing switched on.
    n = 0
    for args, kwargs in captured:
        kwargs = {**kwargs, "level_on_mean_force": True}
        for g, w in zip(steps.step_rows(*args, **kwargs), reference_rows(*args, **kwargs)):
            assert g["quality"] == w["quality"]
            assert g["pelvic_drop_deg"] == pytest.approx(w["pelvic_drop_deg"], rel=1e-5, abs=1e-4)
            n += 1
    assert n > 150


@pytest.mark.parametrize("x", [
    [0, 1, 0.5, 2, 1, 3, 0],
    [0, 1, 1, 1, 0.85, 2, 0],  # a plateau: its middle
    [0, 0.5, 0.45, 0.52, 0.3, 0],  # no peak stands out: the maximum
    [3, 2, 1, 0],
])
def test_first_local_max_is_scipys(x):
    x = np.asarray(x, float)
    assert steps._first_local_max(x, 0.1) == first_local_max(x, 0.1)


def test_compiled_impact_matches_impact_metrics(sim_short):
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(4, 60))
        f = np.cumsum(rng.normal(0, 0.3, n)) + 2.0
        smooth = np.convolve(f, np.ones(3) / 3, mode="same")
        peak, rate = steps._impact(f, smooth, 200.0)
        ref = impact_metrics(f, 200.0, smooth)
        assert peak == pytest.approx(ref.peak_bw) and rate == pytest.approx(ref.loading_rate_bw_s, nan_ok=True)


def test_a_toe_off_after_the_next_contact_leaves_contact_time_empty_and_flags_it():
    # Whichever toe-off comes in (here the contact detector's, no stance wave given): never a negative flight.
    n, fs = 300, 100.0
    t = np.arange(n) / fs
    f_w = np.zeros((n, 3))
    f_w[:, 2] = G
    pelvis = steps.SegmentSignals(t, np.zeros((n, 3)), f_w, f_w[:, 2].copy(), f_w[:, 2].copy(), np.zeros(n, bool))
    ic, to = np.array([0.5, 0.85, 1.2, 1.55]), np.array([0.75, 1.3, 1.45, 1.8])  # step 1's toe-off after step 2's contact
    rows = steps.step_rows(ic, to, np.array(["L", "R", "L", "R"]), [[], [], [], []], range(3), pelvis, None, fs,
                           trunk_reason=None)
    assert np.isnan(rows[1]["contact_time_ms"]) and np.isnan(rows[1]["flight_time_ms"])
    assert "toe_off_unplaced" in rows[1]["quality"] and rows[1]["impact_model"] == ""
    assert rows[0]["contact_time_ms"] == pytest.approx(250.0) and rows[0]["flight_time_ms"] >= 0


def _obliquity_steps(offset_deg, *, vertical_error_deg=0.0, heading_deg=0.0, level_on_mean_force=False,
                     turn_radps=0.0, centripetal_mps2=0.0):
    """Steps of 0.35 s (stance 0.2 s) whose obliquity swings +-5 deg per stride around ``offset_deg``.

    ``vertical_error_deg``: the orientation's vertical tilted by this much about the runner's forward axis
    (running towards ``heading_deg``), as a drifting filter would give: its roll reads that much too high and
    gravity, brought into its world frame, leans by as much to the runner's left.  ``turn_radps``: the heading
    turns left at this rate, with a centripetal acceleration of ``centripetal_mps2`` (to the left).
    """
    fs = 200.0
    t = np.arange(int(4.0 * fs)) / fs
    n = t.size
    ic = np.arange(0.2, 3.6, 0.35)
    roll = np.radians(offset_deg + 5.0 * np.sin(2 * np.pi * (t - ic[0]) / 0.7 + np.pi / 2 - np.pi * 0.1 / 0.35))
    e, h = np.radians(vertical_error_deg), np.radians(heading_deg)
    ang = np.zeros((n, 3))
    h = h + turn_radps * t
    ang[:, 0] = h
    ang[:, 2] = roll + e  # + in left stance (peak mid-stance), - in right stance
    # Gravity (and the bounce of running, 1 +- 1.5 g) seen through a frame rotated by e about the forward axis.
    f_vert = G * (1.0 + 1.5 * np.cos(2 * np.pi * (t - ic[0] - 0.1) / 0.35))
    left = np.column_stack([-np.sin(h), np.cos(h), np.zeros(n)]) * np.ones((n, 1))
    f_w = f_vert[:, None] * (np.cos(e) * np.array([0.0, 0.0, 1.0]) - np.sin(e) * left) + centripetal_mps2 * left
    pelvis = steps.SegmentSignals(t, ang, f_w, f_w[:, 2].copy(), f_w[:, 2].copy(), np.zeros(n, bool))
    side = np.array(["L", "R"] * ic.size)[:ic.size]
    return steps.step_rows(ic, ic + 0.2, side, [[]] * ic.size, range(ic.size - 2), pelvis, None, fs,
                           trunk_reason=None, level_on_mean_force=level_on_mean_force)


@pytest.mark.parametrize("error_deg, heading_deg", [(6.0, 0.0), (-7.0, 130.0)])
def test_without_standing_a_tilted_vertical_is_levelled_on_the_strides_mean_force(error_deg, heading_deg):
    # The true drop is 6.5 (L) / 3.5 (R) deg from a mean obliquity of 1.5 (the runner's own, kept).
    rows = _obliquity_steps(1.5, vertical_error_deg=error_deg, heading_deg=heading_deg, level_on_mean_force=True)
    drops = {side: [r["pelvic_drop_deg"] for r in rows if r["side"] == side] for side in "LR"}
    assert np.allclose(drops["L"], 6.5, atol=0.1) and np.allclose(drops["R"], 3.5, atol=0.1)
    assert all(LEANING_FLAG not in r["quality"] for r in rows)
    # Left as it is (a standing calibration), the error is in every drop and flags the steps.
    rows = _obliquity_steps(1.5, vertical_error_deg=error_deg, heading_deg=heading_deg)
    assert np.allclose([r["pelvic_drop_deg"] for r in rows if r["side"] == "L"], 6.5 + error_deg, atol=0.1)
    assert all(LEANING_FLAG in r["quality"].split(";") for r in rows)


def test_levelling_on_the_mean_force_leaves_turning_strides_alone():
    # A left turn at 0.5 rad/s (20 deg a stride) leaning 10 deg into it: the mean force holds the centripetal
    # acceleration (g tan 10 deg), which is no error of the orientation: the lean stays in the drop, flagged.
    lean = 10.0
    rows = _obliquity_steps(-lean, level_on_mean_force=True, turn_radps=0.5,
                            centripetal_mps2=G * np.tan(np.radians(lean)))
    inside = rows[2:-2]  # strides whose before and after both lie in the turn
    assert np.allclose([r["pelvic_drop_deg"] for r in inside if r["side"] == "L"], 5.0 - lean, atol=0.15)
    assert np.allclose([r["pelvic_drop_deg"] for r in inside if r["side"] == "R"], 5.0 + lean, atol=0.15)
    assert all({"turning", LEANING_FLAG} <= set(r["quality"].split(";")) for r in inside)


def test_levelling_on_the_mean_force_keeps_a_pelvis_that_really_leans():
    # A belt shifted on the hip: the pelvis leans 8 deg, gravity is still vertical in a right world frame.
    rows = _obliquity_steps(8.0, level_on_mean_force=True)
    drops = {side: [r["pelvic_drop_deg"] for r in rows if r["side"] == side] for side in "LR"}
    assert np.allclose(drops["L"], 13.0, atol=0.15) and np.allclose(drops["R"], -3.0, atol=0.15)
    assert all(LEANING_FLAG in r["quality"].split(";") for r in rows)


def test_drop_is_from_neutral_when_the_pelvis_is_level_over_the_stride():
    rows = _obliquity_steps(1.5)  # a runner's own mean obliquity (asymmetric drop): kept in the drop
    drops = {side: [r["pelvic_drop_deg"] for r in rows if r["side"] == side] for side in "LR"}
    assert np.allclose(drops["L"], 6.5, atol=0.1) and np.allclose(drops["R"], 3.5, atol=0.1)
    assert all(LEANING_FLAG not in r["quality"] for r in rows)


@pytest.mark.parametrize("offset_deg", [8.0, -10.0])
def test_a_pelvis_leaning_as_a_whole_is_flagged_and_its_drop_stays_relative_to_neutral(offset_deg):
    # A turn's lean or a belt shifted on the hip: one side reads 5 + lean, the other 5 - lean (METRICS.md: from neutral).
    rows = _obliquity_steps(offset_deg)
    drops = {side: [r["pelvic_drop_deg"] for r in rows if r["side"] == side] for side in "LR"}
    assert np.allclose(drops["L"], 5.0 + offset_deg, atol=0.15) and np.allclose(drops["R"], 5.0 - offset_deg, atol=0.15)
    assert all(LEANING_FLAG in r["quality"].split(";") for r in rows)


def test_vertical_oscillation_moves_smoothly_with_the_contact_time():
    # A spring-mass bounce at 200 Hz: 5 cm peak to peak (a 2.9 Hz sine of displacement).  Moving the contact
    # time across a sample interval in 0.1-ms steps must move the result smoothly: a whole sample in or out
    # of the step changed it by ~0.2 cm before the step's ends were weighted.
    fs, f_hz, amp_m = 200.0, 2.9, 0.025
    t = np.arange(0.0, 2.0, 1.0 / fs)
    az = -amp_m * (2 * np.pi * f_hz) ** 2 * np.cos(2 * np.pi * f_hz * t)
    got = []
    for t0 in 0.5 + np.arange(0.0, 0.0101, 0.0001):
        lo, w = step_weights(t, t0, t0 + 1.0 / f_hz, fs)
        got.append(vertical_oscillation_cm(az[lo:lo + w.size], w, fs))
    got = np.array(got)
    assert np.all(np.abs(got - 2 * amp_m * 100) < 0.1)  # the true 5 cm (piecewise-constant integration)
    assert np.max(np.abs(np.diff(got))) < 0.01
