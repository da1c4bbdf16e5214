"""Bluetooth client throughput and cost, through bleak's BlueZ backend against the fake BlueZ.

Prints:
1. decoding alone (bytes already in memory -> samples on the session clock),
   notifications per second: the ceiling for the consumer;
2. sustained notifications per second the client receives, decodes and records
   for two sensors when the fake sends as fast as D-Bus carries them (flood);
3. CPU of the recording process per second of streaming two sensors at 208 Hz
   in real time (the fake and dbus-daemon run in other processes), and against
   the simulation's truth: notifications sent vs received, samples recorded vs
   the device's, each sample's time error after the 5th second, and the two
   sensors' alignment (run it once more under ``stress-ng --cpu 2``).

Needs dbus-daemon.  Usage: python benchmarks/bench_ble.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "streaming"))

from ble_harness import PELVIS, RATE_HZ, TRUNK  # noqa: E402

from stridesense.streaming.ble import Recorder, release_bluetooth  # noqa: E402
from stridesense.streaming.devices import FAMILIES  # noqa: E402
from stridesense.streaming.fake_bluez import FakeBlueZ, PrivateBus, simulation_config  # noqa: E402
from stridesense.streaming.recording import read_sensors  # noqa: E402
from stridesense.streaming.stream_decoder import StreamDecoder  # noqa: E402


def decode_only(seconds: float) -> tuple[int, float]:
    """Notifications per second StreamDecoder handles with bytes in memory (both families)."""
    from stridesense.models.simulator import simulate_session

    sim = simulate_session(simulation_config(11, seconds, RATE_HZ)).session
    packets = []
    for role, dev in (("pelvis", PELVIS), ("trunk", TRUNK)):
        data = getattr(sim, role)
        enc = FAMILIES[dev["family"]].encoder(RATE_HZ)
        packets += [(dev["family"], c, p) for c, p in enc.encode(data.acc_mps2, data.gyr_radps, 1e9 + data.time_s)]
    decoders = {f: StreamDecoder(FAMILIES[f], RATE_HZ) for f in ("movesense", "polar")}
    t0 = time.perf_counter()
    for k, (family, char, payload) in enumerate(packets):
        decoders[family].feed(k * 1e-3, char, payload)
    return len(packets), time.perf_counter() - t0


async def _record(folder, expected: str | None, duration_s: float, recorders: list | None = None):
    rec = Recorder({"pelvis": PELVIS["address"], "trunk": TRUNK["address"]}, folder)
    if recorders is not None:
        recorders.append(rec)
    marks = {}

    def check(r):
        if "first" not in marks and any(s.samples for s in r.status.values()):
            marks["first"] = (time.perf_counter(), time.process_time(), {k: s.notifications for k, s in
                                                                         r.status.items()})
        total = sum(s.samples for s in r.status.values())
        if total != marks.get("total"):
            marks.update(total=total, changed=time.perf_counter())
        if expected == "all" and total and time.perf_counter() - marks["changed"] > 1.0:
            r.stop.set()  # everything the fake had was received

    try:
        result = await rec.run(duration_s, on_status=check, status_every_s=0.05)
    finally:
        await release_bluetooth()
    return result, marks, (time.perf_counter(), time.process_time())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of real-time streaming to measure CPU")
    ap.add_argument("--flood-seconds", type=float, default=120.0, help="simulated seconds sent in the flood")
    args = ap.parse_args()

    n, dt = decode_only(args.flood_seconds)
    print(f"decode only:       {n} notifications in {dt:.2f} s = {n / dt:,.0f} notifications/s")

    with PrivateBus() as bus, tempfile.TemporaryDirectory() as tmp:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        sim = None
        from stridesense.models.simulator import simulate_session

        sim = simulate_session(simulation_config(11, args.flood_seconds, RATE_HZ)).session
        expected = "all"  # until nothing more comes
        spec = {"seed": 11, "duration_s": args.flood_seconds, "rate_hz": RATE_HZ, "flood": True,
                "devices": [PELVIS, TRUNK]}
        with FakeBlueZ(bus.address, spec):
            result, marks, end = asyncio.run(_record(Path(tmp) / "flood", expected, 120.0))
        wall0, _, notes0 = marks["first"]
        notes = sum(s.notifications for s in result.status.values()) - sum(notes0.values())
        samples = sum(s.samples for s in result.status.values())
        lost = sum(s.lost_samples for s in result.status.values())
        elapsed = marks["changed"] - wall0  # from the first samples to the last
        print(f"flood, 2 sensors:  {notes} notifications in {elapsed:.2f} s = "
              f"{notes / elapsed:,.0f} notifications/s received, decoded and written "
              f"({samples} samples, {lost} lost)")

        spec = {"seed": 11, "duration_s": args.seconds + 30, "rate_hz": RATE_HZ, "devices": [PELVIS, TRUNK],
                "truth_path": str(Path(tmp) / "truth.json")}
        recorders = []
        with FakeBlueZ(bus.address, spec) as fake:
            result, marks, end = asyncio.run(_record(Path(tmp) / "live", None, args.seconds + 5, recorders))
        truth = fake.truth()
        wall0, cpu0, _ = marks["first"]
        rate = {k: s.samples / (end[0] - wall0) for k, s in result.status.items()}
        cpu = (end[1] - cpu0) / (end[0] - wall0)
        print(f"real time, 2 x {RATE_HZ:g} Hz: {cpu * 100:.1f} % of one core for the recorder "
              f"(bleak + decoding + writing); rates achieved " + ", ".join(f"{k} {v:.1f} Hz" for k, v in rate.items()))
        _against_truth(Path(tmp) / "live", truth, recorders[0], result, args.seconds + 30)
    return 0


def _against_truth(folder: Path, truth: dict, recorder, result, duration_s: float) -> None:
    from stridesense.models.simulator import simulate_session

    sim = simulate_session(simulation_config(11, duration_s, RATE_HZ)).session
    sensors, _ = read_sensors(folder)
    body_t0_s = truth["body_t0_monotonic_s"] - recorder.t0
    errors = {}
    for role, dev in (("pelvis", PELVIS), ("trunk", TRUNK)):
        data, sent = sensors[role], getattr(sim, role)
        same = bool(abs(data.acc_mps2 - sent.acc_mps2[:data.n]).max() < 0.01)
        errors[role] = (data.time_s - (body_t0_s + sent.time_s[:data.n] - sent.time_s[0])) * 1e3
        late = abs(errors[role][int(5 * RATE_HZ):])
        print(f"  {role}: {truth['devices'][dev['address']]['packets_sent']} notifications sent, "
              f"{result.status[role].notifications} received (with the control-point replies); {data.n} samples recorded, "
              f"{'each the device' if same else 'NOT the device'}'s first {data.n}; time error after 5 s: "
              f"median {float(sorted(late)[late.size // 2]):.2f} ms, max {late.max():.2f} ms "
              f"(first second max {abs(errors[role][:int(RATE_HZ)]).max():.2f} ms)")
    n = min(e.size for e in errors.values())
    k = int(5 * RATE_HZ)
    print(f"  sensors aligned after 5 s within {abs(errors['pelvis'][k:n] - errors['trunk'][k:n]).max():.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
