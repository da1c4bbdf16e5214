"""The live run's latency, CPU and memory.

Prints:
1. step-row latency: a simulated run at 2 x 208 Hz is handed to
   :class:`~stridesense.streaming.live.LiveRun` in real time, packet by packet
   as the sensors send them (Movesense 8 samples, Polar 36); for each step,
   the time from the arrival of the sample that completes it (the last its row
   reads: 1.0 s after the next-but-one contact) to its row coming out
   (p50 / p95 / max), steps of the calibration backlog left out;
2. cue latency: from the triggering step's row to the player starting the
   cue's WAV (``aplay -D null``: no sound card here), plus the speech onset
   inside the WAV; the audio device's own buffer (~20-100 ms) is not included;
3. CPU of the analysis (process CPU time / wall time, % of one core) over
   that run, after the compiled kernels are loaded;
4. memory over a long replay at max speed (default 3 h: a 10-min simulated
   run repeated), resident set size every 10 min of session.

Usage: python benchmarks/bench_live.py [--seconds 90] [--hours 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import warnings

import numpy as np

from stridesense.imu.data import SensorData
from stridesense.models.cues import CueEngine, load_cue_config
from stridesense.models.simulator import SimConfig, simulate_session
from stridesense.streaming.live import LiveRun
from stridesense.streaming.sound import Speaker, wav_facts

RATE_HZ = 208.0
PACKET = {"pelvis": 8, "trunk": 36}  # samples per notification: Movesense IMU6 at 208 Hz, Polar ACC+GYRO


def _sim(seconds: float, seed: int = 11):
    return simulate_session(SimConfig(seed=seed, duration_s=seconds, pelvis_rate_hz=RATE_HZ, trunk_rate_hz=RATE_HZ,
                                      trunk_start_offset_s=0.0)).session


def _packets(session):
    """(last sample's session time, role, SensorData) of every notification, in order of arrival."""
    out = []
    for role, n in PACKET.items():
        data = getattr(session, role)
        for i in range(0, data.n - n + 1, n):
            sl = slice(i, i + n)
            out.append((float(data.time_s[i + n - 1]), role,
                        SensorData(data.time_s[sl], data.acc_mps2[sl], data.gyr_radps[sl], role)))
    return sorted(out, key=lambda p: p[0])


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def realtime(seconds: float) -> None:
    session = _sim(seconds)
    packets = _packets(session)
    # Compile and load the kernels first (a live run does this before the runner starts).
    warm = LiveRun(61.0, lossless=True, cues=None)
    for _, role, data in packets[:4000]:
        warm.put(role, data)
    warm.close()

    rows_out: list[tuple[dict, float]] = []
    cue_rows: list[tuple[float, float]] = []  # (step time, monotonic time its row came out)
    rules = load_cue_config(text='warmup_steps = 5\nrefractory_s = 30\nmin_gap_s = 8\n[rule.cadence]\n'
                                 'metric = "cadence_spm"\nlow = 200\ntext_low = "quicker, shorter steps"\n')
    tmp = tempfile.TemporaryDirectory()
    speaker = Speaker(rules.texts(), tmp.name, player=["aplay", "-q", "-D", "null"])
    by_step = {}

    def on_steps(rows, now):
        for r in rows:
            rows_out.append((r, now))
            by_step[r["ic_s"]] = now

    def on_cue(cue):
        cue_rows.append((cue.time_s, by_step.get(cue.time_s, np.nan)))

    run = LiveRun(61.0, cues=CueEngine(rules), speaker=speaker, on_steps=on_steps, on_cue=on_cue)
    arrival_t, arrival_wall = np.empty(len(packets)), np.empty(len(packets))
    cpu0, start = time.process_time(), time.monotonic()
    for i, (t_last, role, data) in enumerate(packets):
        due = start + t_last
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        arrival_t[i], arrival_wall[i] = t_last, time.monotonic()
        run.put(role, data)
    wall = time.monotonic() - start
    cpu = time.process_time() - cpu0
    run.close()
    # For each step, the wall time the sample 1.0 s after its next-but-one contact arrived.
    ic = np.array([r["ic_s"] for r, _ in rows_out])
    out = np.array([w for _, w in rows_out])
    need = np.r_[ic[2:], [np.inf, np.inf]] + 1.0
    i = np.minimum(np.searchsorted(arrival_t, need), len(arrival_t) - 1)
    ok = np.isfinite(need) & (need <= arrival_t[-1]) & (ic > ic[0] + 0.0)
    first_out = out.min()
    steady = ok & (arrival_wall[i] > first_out)  # not the calibration backlog
    lat = out[steady] - arrival_wall[i[steady]]
    print(f"1. step rows: {steady.sum()} of {len(ic)} steps after the calibration backlog; latency from the "
          f"completing sample's arrival p50 {np.percentile(lat, 50) * 1e3:.0f} ms, p95 "
          f"{np.percentile(lat, 95) * 1e3:.0f} ms, max {lat.max() * 1e3:.0f} ms (bound: 500 ms p95)")
    print(f"   the first rows came {first_out - start:.1f} s into the run (standing 6 s, then 20 s of running "
          "to find each sensor's forward axis)")
    starts = [s for _, s in speaker.started]
    cue_lat = [s - row for (_, row), s in zip(cue_rows, starts)]
    onset = max(wav_facts(p)[2] for p in speaker.wavs.values())
    if cue_lat:
        print(f"2. cues: {len(cue_lat)}; row out -> player started: median {np.median(cue_lat) * 1e3:.0f} ms, max "
              f"{max(cue_lat) * 1e3:.0f} ms; speech starts {onset * 1e3:.0f} ms into its WAV (bound: 1 s)")
    print(f"3. CPU: {cpu:.2f} s over {wall:.0f} s = {100 * cpu / wall:.1f} % of one core "
          "(analysis, cues and the feeding loop; bound: 5 %)")
    tmp.cleanup()


def long_replay(hours: float) -> None:
    base = _sim(600.0, seed=12)
    t_end = float(max(base.pelvis.time_s[-1], base.trunk.time_s[-1]))
    run = LiveRun(61.0, lossless=True, cues=CueEngine(load_cue_config()), keep_steps=False)
    rss = []
    started = time.monotonic()
    n_loops = int(np.ceil(hours * 3600 / t_end))
    for loop in range(n_loops):
        offset = loop * (t_end + 0.01)
        for t in np.arange(0.0, t_end, 1.0):
            for role in ("pelvis", "trunk"):
                d = getattr(base, role).slice_time(t, t + 1.0)
                run.put(role, SensorData(d.time_s + offset, d.acc_mps2, d.gyr_radps, role))
        rss.append((offset + t_end, _rss_mb()))
    run.close()
    took = time.monotonic() - started
    growth_mb_h = (rss[-1][1] - rss[0][1]) / max((rss[-1][0] - rss[0][0]) / 3600, 1e-9)
    print(f"4. memory over a {hours:g}-h replay at max speed ({took:.0f} s, {run.state.n_steps} steps): resident "
          + ", ".join(f"{t / 3600:.1f} h {m:.0f} MB" for t, m in rss[:: max(len(rss) // 6, 1)])
          + f"; growth after the first 10 min {growth_mb_h:.0f}"
          " MB/h")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=90.0, help="length of the real-time run")
    ap.add_argument("--hours", type=float, default=3.0, help="length of the replay at max speed (0: skip)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    realtime(args.seconds)
    if args.hours > 0:
        long_replay(args.hours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
