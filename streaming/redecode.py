"""Decode a recorded session again from the raw bytes it kept: a decoder fix repairs old recordings.

Each sensor's ``<role>.raw.arrow`` (every notification as received, with its
arrival time) is decoded with today's decoders, twice: once to fit the
device clock from every packet (the final fit, which the live recording
could only approach), then again mapping every sample with that one fit.
The new samples go to a temporary file; only once it is complete and on
disk does it replace ``<role>.samples.arrow``, so an error midway leaves the
old samples as they were.  The sensor's gap and dropped-packet events are
rewritten the same way, on the new samples' clock.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.ipc as ipc

from stridesense import __version__
from stridesense.errors import CommandRefused, RecordingError
from stridesense.imu.consts import ACC_COLS, GYR_COLS, TIME_COL
from stridesense.streaming.devices import FAMILIES
from stridesense.streaming.recording import (_schema, _StreamFile, read_manifest, replace_atomically,
                                             write_manifest)
from stridesense.streaming.stream_decoder import StreamDecoder

EVENTS = "events.jsonl"


@dataclass(frozen=True)
class Redecoded:
    """What re-decoding did to one sensor."""

    role: str
    samples_before: int
    samples_after: int
    dropped_packets: int
    lost_samples: int
    clock_offset_s: float
    clock_drift_ppm: float


def _decode(family, rate_hz: float, raw, clock_fit=None) -> tuple[StreamDecoder, list]:
    stream = StreamDecoder(family, rate_hz, clock_fit=clock_fit)
    blocks = []
    for host_s, uuid, payload in zip(*raw):
        try:
            blocks += stream.feed(host_s, uuid, payload)
        except CommandRefused as e:  # the live recording stopped here too; what came before stands
            stream.dropped.append(f"refused: {e}")
    blocks += stream.flush()
    return stream, blocks


def redecode_sensor(folder: Path, entry: dict) -> Redecoded:
    """Rewrite one sensor's samples (and its gap/drop events) from its raw bytes; see the module doc."""
    role = entry["role"]
    raw_name = entry.get("files", {}).get("raw")
    if not raw_name or not (folder / raw_name).exists():
        raise RecordingError(f"{folder}: the {role} sensor kept no raw bytes; it cannot be decoded again")
    family = FAMILIES.get(entry.get("family"))
    if family is not None:
        family = family.for_advert(entry.get("name"))  # the model (a Polar H10 has no gyroscope)
    if family is None:
        raise RecordingError(f"{folder}: the {role} sensor's family {entry.get('family')!r} has no decoder")
    try:
        table = ipc.open_stream(str(folder / raw_name)).read_all()
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise RecordingError(f"{folder / raw_name}: not readable ({e})") from None
    raw = (table.column("host_time_s").to_numpy(), table.column("char_uuid").to_pylist(),
           table.column("payload").to_pylist())
    rate_hz = float(entry.get("nominal_rate_hz") or 208.0)
    first, _ = _decode(family, rate_hz, raw)
    if not first.clock.n_packets:
        raise RecordingError(f"{folder}: no {role} sample could be decoded from its {len(raw[2])} notifications "
                             f"({first.dropped[0] if first.dropped else 'no reason given'})")
    fit = first.clock.fit()
    stream, blocks = _decode(family, rate_hz, raw, clock_fit=fit)

    samples = folder / entry.get("files", {}).get("samples", f"{role}.samples.arrow")
    before = _count_rows(samples)
    tmp = samples.with_name(samples.name + ".new")
    out = _StreamFile(tmp, _schema(bool(entry.get("has_gyro", True))))
    try:
        if blocks:
            t = np.concatenate([b[0] for b in blocks])
            acc = np.concatenate([b[1] for b in blocks])
            cols = {TIME_COL: t, **{c: acc[:, i] for i, c in enumerate(ACC_COLS)}}
            if all(b[2] is not None for b in blocks):
                gyr = np.concatenate([b[2] for b in blocks])
                cols.update({c: gyr[:, i] for i, c in enumerate(GYR_COLS)})
            out.write(cols)
        out.close()
        os.replace(tmp, samples)  # only now: the old samples stay until the new ones are whole
    except OSError as e:
        out.abandon()
        tmp.unlink(missing_ok=True)
        raise RecordingError(f"{samples}: cannot write the new samples ({e.strerror or e}); the old ones are "
                             "kept") from None
    except BaseException:
        out.abandon()
        tmp.unlink(missing_ok=True)
        raise
    lost = sum(int(m) for _, _, m in stream.clock.gaps)
    _rewrite_events(folder, role, [{"kind": "gap", "role": role, "start_s": round(s0, 4), "end_s": round(s1, 4),
                                    "missing_samples": int(m)}
                                   for (_, _, m), (s0, s1) in zip(stream.clock.gaps, stream.clock.gap_edges_s)]
                    + [{"kind": "dropped_packet", "role": role, "reason": r} for r in stream.dropped])
    n = sum(b[0].size for b in blocks)
    return Redecoded(role, before, n, len(stream.dropped) + stream.duplicates, lost, fit[0], fit[1] * 1e6)


def _count_rows(path: Path) -> int:
    try:
        return sum(b.num_rows for b in ipc.open_stream(str(path)))
    except Exception:  # noqa: BLE001 - missing or cut short: the old count is only reported
        return 0


def _rewrite_events(folder: Path, role: str, new: list[dict]) -> None:
    """Replace one sensor's gap and dropped-packet events (others kept, in order), atomically."""
    path = folder / EVENTS
    old = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    kept = [e for e in old if not (e.get("role") == role and e.get("kind") in ("gap", "dropped_packet"))]
    replace_atomically(path, "".join(json.dumps(e) + "\n" for e in kept + new).encode())


def redecode(folder: str | Path) -> list[Redecoded]:
    """Decode every sensor of a recorded session folder again; see the module doc.

    Raises
    ------
    RecordingError
        Not a session folder, or a sensor without raw bytes or a known family.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    done = []
    for entry in manifest.get("sensors", []):
        r = redecode_sensor(folder, entry)
        entry.update(samples=r.samples_after, dropped_packets=r.dropped_packets, lost_samples=r.lost_samples,
                     clock_offset_s=r.clock_offset_s, clock_drift_ppm=r.clock_drift_ppm,
                     redecoded_with=f"stridesense {__version__}")
        done.append(r)
    write_manifest(folder, manifest)
    return done
