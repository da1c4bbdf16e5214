"""Orientation filters under running impacts: tilt error against the simulator, and cost.

    python benchmarks/orientation.py [minutes]

Compares, on the same simulated pelvis and trunk sensors (random mounts,
impacts up to ~3 g, flight phases, wobble, bias, noise):
  - ahrs Madgwick at its default gain on the raw accelerometer (sample by sample),
  - ahrs Madgwick at a low gain (0.005) on the raw accelerometer,
  - ahrs Complementary (gain 0.9 default, and 0.01) on the raw accelerometer,
  - VQF (offline) from PyPI `vqf`, if installed,
  - stridesense: quasi-inertial gravity reference + the ahrs Madgwick update (compiled).
Tilt error = RMS over running of the pitch and roll error of the segment
(true mounting used for all, so only the filter differs), degrees.
"""

import sys
import time

import numpy as np

from stridesense.imu.calibration import segment_alignment, standing_calibration
from stridesense.imu.fusion import OrientationFilter, madgwick_imu, madgwick_imu_ahrs, quat_from_gravity
from stridesense.models.segments import segment_angles
from stridesense.models.simulator import SimConfig, simulate_session

minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
sim = simulate_session(SimConfig(seed=21, duration_s=60 * minutes, trunk_rate_hz=200.0, n_turns=0))


def tilt_rms(quat, role, d, cal):
    ang = segment_angles(quat, segment_alignment(cal.up_sensor, sim.mounts[role][0]))
    truth = sim.true_angles_rad(role, d.time_s)
    run = d.time_s > 10
    err = np.degrees(ang[run, 1:] - truth[run, 1:])
    return float(np.sqrt(np.mean(err**2)))


rows = []
for role in ("pelvis", "trunk"):
    d = getattr(sim.session, role)
    fs = d.sampling_rate_hz
    cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs)
    gyr = d.gyr_radps - cal.gyr_bias_radps
    q0 = quat_from_gravity(cal.gravity_sensor_mps2)
    n_ahrs = min(d.n, int(60 * fs))  # the Python loop is slow: time one minute, scale
    t = time.perf_counter()
    madgwick_imu_ahrs(q0, gyr[:n_ahrs], d.acc_mps2[:n_ahrs], 1 / fs, 0.033)
    ahrs_us = (time.perf_counter() - t) / n_ahrs * 1e6
    q = madgwick_imu(q0, gyr, d.acc_mps2, 1 / fs, 0.033)
    rows.append((role, "ahrs Madgwick, default gain 0.033, raw acc", tilt_rms(q, role, d, cal), ahrs_us))
    q = madgwick_imu(q0, gyr, d.acc_mps2, 1 / fs, 0.005)
    rows.append((role, "ahrs Madgwick, gain 0.005, raw acc", tilt_rms(q, role, d, cal), ahrs_us))
    from ahrs.filters import Complementary

    for gain in (0.9, 0.01):
        c = Complementary(gyr=gyr, acc=d.acc_mps2, frequency=fs, gain=gain, q0=q0)
        rows.append((role, f"ahrs Complementary, gain {gain}, raw acc", tilt_rms(c.Q, role, d, cal), float("nan")))
    try:
        from vqf import offlineVQF

        t = time.perf_counter()
        out = offlineVQF(np.ascontiguousarray(gyr), np.ascontiguousarray(d.acc_mps2), None, 1 / fs)
        vqf_us = (time.perf_counter() - t) / d.n * 1e6
        # VQF's quaternion is sensor-to-earth with an arbitrary heading; the tilt is what we compare.
        rows.append((role, "VQF offline (vqf package)", tilt_rms(out["quat6D"], role, d, cal), vqf_us))
    except ImportError:
        pass
    t = time.perf_counter()
    res = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(d.gyr_radps, d.acc_mps2)
    ours_us = (time.perf_counter() - t) / d.n * 1e6
    rows.append((role, "stridesense: gravity reference + Madgwick (numba)", tilt_rms(res.quat, role, d, cal), ours_us))

print(f"{minutes:.0f} min simulated, pelvis and trunk at 200 Hz; tilt error RMS over running (deg); cost per sample")
print(f"{'sensor':7s} {'method':52s} {'tilt RMS':>9s} {'us/sample':>10s}")
for role, name, err, us in rows:
    print(f"{role:7s} {name:52s} {err:9.2f} {us:10.2f}")
ahrs_us = [r[3] for r in rows if r[1].startswith("ahrs Madgwick, default")][0]
ours = [r[3] for r in rows if r[1].startswith("stridesense")][0]
print(f"\nstridesense's whole filter vs ahrs' Madgwick loop in Python: {ahrs_us / ours:.0f}x faster")

if minutes >= 20:
    print("\ndrift: stridesense tilt error RMS per 10 minutes (deg)")
    for role in ("pelvis", "trunk"):
        d = getattr(sim.session, role)
        fs = d.sampling_rate_hz
        cal = standing_calibration(d.time_s, d.acc_mps2, d.gyr_radps, fs)
        res = OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(d.gyr_radps, d.acc_mps2)
        ang = segment_angles(res.quat, segment_alignment(cal.up_sensor, sim.mounts[role][0]))
        truth = sim.true_angles_rad(role, d.time_s)
        err = np.degrees(ang[:, 1:] - truth[:, 1:])
        parts = []
        for k in range(int(minutes // 10)):
            m = (d.time_s >= max(600 * k, 10)) & (d.time_s < 600 * (k + 1))
            parts.append(f"{np.sqrt(np.mean(err[m] ** 2)):.2f}")
        print(f"{role:7s} " + "  ".join(parts))
