"""Speed and memory of the analysis, for a 60-minute session of two sensors at 200 Hz.

    python benchmarks/bench_pipeline.py [minutes]

Builds the session with the simulator, writes it as a native session folder,
and prints: seconds per stage, samples per second, real-time factor, the
orientation step against ahrs' Madgwick run sample by sample in Python
(measured in this run, on one minute of data, and scaled), whether they match,
end-to-end `stridesense analyze` (a fresh process: start to table written)
with its peak memory, and the CPU a live stream of 2 x 200 Hz takes.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stridesense.api import analyze_session
from stridesense.imu.calibration import standing_calibration
from stridesense.imu.events import detect_contacts
from stridesense.imu.fusion import OrientationFilter, madgwick_imu, madgwick_imu_ahrs, quat_from_gravity, rotate
from stridesense.models.simulator import SimConfig, simulate_session
from stridesense.pipeline import Analyzer
from stridesense.streaming.recording import read_session, write_session
from stridesense.streaming.replay import replay_chunks

minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
duration = 60 * minutes
print(f"building a {minutes:.0f}-minute session (pelvis and trunk at 200 Hz) ...", flush=True)
t = time.perf_counter()
sim = simulate_session(SimConfig(seed=8, duration_s=duration, trunk_rate_hz=200.0))
n_samples = sim.session.pelvis.n + sim.session.trunk.n
print(f"  simulated {n_samples:,} samples in {time.perf_counter() - t:.1f} s")
tmp = Path(tempfile.mkdtemp())
folder = write_session(tmp / "session", sim.session)

stages = {}
t = time.perf_counter()
session = read_session(folder)
stages["read native session"] = time.perf_counter() - t

p = session.pelvis
fs = p.sampling_rate_hz
cals = [standing_calibration(s.time_s, s.acc_mps2, s.gyr_radps, fs) for s in (session.pelvis, session.trunk)]
cal = cals[0]
OrientationFilter(fs, cal.gyr_bias_radps, cal.gravity_sensor_mps2).push(p.gyr_radps[:100], p.acc_mps2[:100])  # jit
t = time.perf_counter()
for s, c in zip((session.pelvis, session.trunk), cals):
    res = OrientationFilter(fs, c.gyr_bias_radps, c.gravity_sensor_mps2).push(s.gyr_radps, s.acc_mps2)
stages["orientation (both sensors)"] = time.perf_counter() - t
f_vert = rotate(res.quat, session.trunk.acc_mps2)[:, 2]
t = time.perf_counter()
detect_contacts(session.trunk.time_s, f_vert, fs)
stages["contact detection (one sensor)"] = time.perf_counter() - t
t = time.perf_counter()
result = analyze_session(session)
stages["whole analysis (analyze_session)"] = time.perf_counter() - t

print("\nstage                               seconds   samples/s   x real time")
for name, sec in stages.items():
    print(f"{name:34s} {sec:8.2f} {n_samples / sec:11,.0f} {duration / sec:12,.0f}")
print(f"  {len(result.steps)} steps")

# ahrs baseline, same filter, gains and start, on one minute of pelvis data
n = int(60 * fs)
gyr = p.gyr_radps[:n] - cal.gyr_bias_radps
q0 = quat_from_gravity(cal.gravity_sensor_mps2)
t = time.perf_counter()
ref = madgwick_imu_ahrs(q0, gyr, p.acc_mps2[:n], 1 / fs, 0.05)
ahrs_per_sample = (time.perf_counter() - t) / n
t = time.perf_counter()
ours = madgwick_imu(q0, gyr, p.acc_mps2[:n], 1 / fs, 0.05)
numba_per_sample = (time.perf_counter() - t) / n
ours_total = stages["orientation (both sensors)"] / n_samples
print(f"\ncheck against ahrs (Madgwick updateIMU, gain 0.05, 1 min): max |q difference| "
      f"{np.abs(ours - ref).max():.1e}")
print(f"ahrs sample by sample: {ahrs_per_sample * 1e6:.1f} us/sample -> {ahrs_per_sample * n_samples:.0f} s "
      f"for this session")
print(f"compiled Madgwick alone: {numba_per_sample * 1e6:.2f} us/sample ({ahrs_per_sample / numba_per_sample:.0f}x "
      f"faster); whole orientation step (reference + Madgwick): {ours_total * 1e6:.2f} us/sample "
      f"({ahrs_per_sample / ours_total:.0f}x faster)")

# End to end: `stridesense analyze` as a user runs it, in a fresh process each time.  A small wrapper
# starts it and reports the wall time and the child's peak memory (ru_maxrss of its children: the
# command itself is forked from the small wrapper, not from this big process).  The first run after
# installing also fills numba's cache; this machine's speed varies by +-20 %, hence five runs.
out = tmp / "steps.csv"
wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "rc = subprocess.call([sys.executable, '-m', 'stridesense', *sys.argv[1:]]); "
           "print('WALL', time.perf_counter() - t, 'PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
           "file=sys.stderr); sys.exit(rc)")
# The floor, in the same run: a process that only imports what `analyze` imports and starts numba.
floor = ("import os, numpy as np, rich.console, stridesense.api, stridesense.streaming.recording; "
         "from stridesense.imu.fusion import rotate; rotate(np.array([1.0, 0, 0, 0]), np.ones(3)); os._exit(0)")
walls, peaks, floors = [], [], []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", floor], check=True)
    floors.append(time.perf_counter() - t)
    proc = subprocess.run([sys.executable, "-c", wrapper, "analyze", str(folder), "--out", str(out), "--quiet"],
                          capture_output=True, text=True)
    fields = proc.stderr.split("WALL")[-1].split()
    walls.append(float(fields[0]))
    peaks.append(int(fields[2]) / 1024)
med, med_floor = float(np.median(walls)), float(np.median(floors))
print(f"\n`stridesense analyze <{minutes:.0f}-min session> --out steps.csv`, end to end (5 runs): "
      f"{', '.join(f'{w:.2f}' for w in walls)} s -> median {med:.2f} s, best {min(walls):.2f} s; "
      f"peak memory {max(peaks):.0f} MB; exit {proc.returncode}")
print(f"  a process that only imports and starts numba, same run: median {med_floor:.2f} s "
      f"({100 * med_floor / med:.0f} % of the end to end); the analysis and the table add {med - med_floor:.2f} s")

# live: 2 x 200 Hz pushed every 0.1 s
live_s = min(duration, 600.0)
live = type(session)(session.pelvis.slice_time(0, live_s), session.trunk.slice_time(0, live_s), session.mass_kg)
a = Analyzer()
cpu = time.process_time()
for _, pel, tr in replay_chunks(live, chunk_s=0.1, speed=0):
    a.push(pel, tr)
a.flush()
cpu = time.process_time() - cpu
print(f"live, 2 x 200 Hz pushed every 0.1 s: {cpu:.1f} CPU s for {live_s:.0f} s of running = "
      f"{100 * cpu / live_s:.1f} % of one core")
