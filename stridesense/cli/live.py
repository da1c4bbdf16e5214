"""`stridesense live` (record, analyse and cue while running) and `stridesense replay` (the same, from a session)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from stridesense.cli.analysis import _check_session_args, _check_table_paths, _session_args
from stridesense.cli.recording import recording_args
from stridesense.errors import InputError, RecordingError

REFRESH_PER_S = 4


def _cue_args(p) -> None:
    p.add_argument("--cues", metavar="FILE.toml", help="cue rules and targets (default: the shipped ones; README)")
    p.add_argument("--no-cues", action="store_true", help="no cues at all")
    p.add_argument("--silent", action="store_true", help="show cues, never speak or ring them")
    p.add_argument("--cue-stream", metavar="-|FILE|unix:PATH",
                   help="cues as JSON lines for other programs: stdout (-), a file, or a local socket")


def register(sub) -> None:
    p = sub.add_parser("live", help="record, analyse and give spoken cues while running (Ctrl-C to stop)")
    recording_args(p)
    _cue_args(p)
    p.set_defaults(func=run_live)

    p = sub.add_parser("replay", help="replay a session with the live view and cues, at any speed")
    _session_args(p)
    p.add_argument("--speed", default="10", help="times real time: 1, 4, ... or max (0 = max)")
    p.add_argument("--every", type=int, default=10, help="without a terminal: print every Nth step (cues always)")
    p.add_argument("--out", help="step table to write at the end (.csv or .parquet)")
    _cue_args(p)
    p.set_defaults(func=run_replay)


def _speed(text: str) -> float:
    if str(text).lower() == "max":
        return 0.0
    try:
        speed = float(text)
    except ValueError:
        raise InputError(f"--speed must be a number or max, not {text!r}") from None
    if speed < 0:
        raise InputError("--speed must be positive (or max)")
    return speed


def _voice_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stridesense" / "voice"


def _cue_parts(args, spoken: bool):
    """Cue engine, speaker and stream from the options; a bad cue file is refused here, before anything starts."""
    from stridesense.models.cues import CueEngine, load_cue_config
    from stridesense.streaming.live import CueStream
    from stridesense.streaming.sound import Speaker

    config = load_cue_config(args.cues)
    if args.no_cues:
        return None, None, None
    speaker = None
    if spoken and not args.silent:
        speaker = Speaker(config.texts(), _voice_cache())
    stream = CueStream(args.cue_stream) if args.cue_stream else None
    return CueEngine(config), speaker, stream


def _console(args):
    from rich.console import Console

    # Cue events on stdout: the view goes to stderr.
    return Console(stderr=args.cue_stream == "-", highlight=False)


def _print_step(console, row) -> None:
    console.print(f"{row['ic_s']:7.1f} s  {row['side']}  drop {row['pelvic_drop_deg']:4.1f} deg  "
                  f"lean {row['trunk_lean_deg']:4.1f} deg  force {row['peak_vgrf_bw']:.2f} BW  "
                  f"cadence {row['cadence_spm']:3.0f}  {row['quality']}")


def _run_with_view(console, run, title: str, body) -> None:
    """Run ``body()`` with the live view on a terminal, or step and cue lines otherwise."""
    from rich.live import Live

    from stridesense.live_view import render

    if console.is_terminal:
        with Live(get_renderable=lambda: render(run.state, title), console=console,
                  refresh_per_second=REFRESH_PER_S, transient=False, redirect_stdout=False, redirect_stderr=False):
            body()
    else:
        body()


def _finish(console, run, out: str | None, folder: Path | None = None) -> int:
    import pandas as pd

    from stridesense.api import write_table
    from stridesense.imu.consts import TABLE_COLUMNS

    steps = pd.DataFrame(run.steps, columns=TABLE_COLUMNS)
    console.print(f"{run.state.n_steps} steps, {run.state.n_cues} cues ({run.state.sound})")
    if run.state.error:
        console.print(f"[red]live analysis stopped:[/red] {run.state.error}")
    if folder is not None:
        console.print(f"live step table and cue log in {folder}", soft_wrap=True)
    if out and len(steps):
        console.print(f"step table: {write_table(steps, out)}")
    return 0


def run_replay(args) -> int:
    from stridesense.api import load_session, prepare_session
    from stridesense.streaming.live import LiveRun
    from stridesense.streaming.replay import replay_chunks

    _check_session_args(args, "replay")
    _check_table_paths(out=args.out)
    speed = _speed(args.speed)
    cues, speaker, stream = _cue_parts(args, spoken=0 < speed <= 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = load_session(args.pelvis, args.trunk, session_dir=args.session, mass_kg=args.mass_kg)
    cut = [str(w.message) for w in caught if "cut off" in str(w.message)]
    session, facts = prepare_session(session, check_roles=not args.keep_roles)  # as `analyze` does
    console = _console(args)
    for message in facts["notices"]:
        console.print(f"[bold yellow]notice:[/bold yellow] {message}")
    plain = not console.is_terminal
    every = max(args.every, 1)
    shown = {"n": 0, "next": every, "side": None}

    def steps_out(rows, _now):
        for row in rows if plain else ():
            shown["n"] += 1
            # Every Nth step, but never the same side twice running (every even N would show one side only).
            if shown["n"] < shown["next"] or (row["side"] == shown["side"] and every > 1):
                continue
            shown["next"], shown["side"] = shown["n"] + every, row["side"]
            _print_step(console, row)

    def cue_out(cue):
        if plain:
            console.print(f"[bold yellow]{cue.time_s:7.1f} s  CUE: {cue.text}[/bold yellow]")
        if stream is not None:
            stream.send(cue.to_dict())

    run = LiveRun(session.mass_kg, cues=cues, speaker=speaker, on_cue=cue_out, on_steps=steps_out, lossless=True,
                  keep_steps=bool(args.out))
    for role in ("pelvis", "trunk"):
        data = getattr(session, role)
        if data is not None:
            run.link(role, True, rate_hz=data.sampling_rate_hz)

    def body():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _t, pel, tr in replay_chunks(session, speed=speed):
                run.put("pelvis", pel)
                if tr is not None:
                    run.put("trunk", tr)
            run.close()

    name = Path(args.session).name if args.session else Path(args.pelvis).name
    try:
        _run_with_view(console, run, f"stridesense replay {name} x{args.speed}", body)
    finally:
        if stream is not None:
            stream.close()
    for message in cut:
        ends = {r: getattr(session, r).time_s[-1] for r in ("pelvis", "trunk") if getattr(session, r) is not None}
        console.print(f"[yellow]the session is cut short:[/yellow] {message}; replayed up to "
                      + ", ".join(f"{r} {t:.1f} s" for r, t in ends.items()), soft_wrap=True)
    return _finish(console, run, args.out)


def run_live(args) -> int:
    from stridesense.streaming.ble import record, session_folder
    from stridesense.streaming.live import LiveRun

    if not 20 <= args.mass_kg <= 250:
        raise InputError(f"--mass-kg {args.mass_kg:g} is not a body mass in kg (20-250)")
    if args.duration_s is not None and args.duration_s <= 0:
        raise InputError("--duration-s must be positive")
    cues, speaker, stream = _cue_parts(args, spoken=True)  # a bad cue file is refused before connecting
    sensors = {"pelvis": args.pelvis} | ({"trunk": args.trunk} if args.trunk else {})
    folder = session_folder(args.out, args.runner)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(folder.parent, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        raise RecordingError(f"cannot write sessions to {folder.parent}: {e.strerror or e}") from None
    console = _console(args)

    def cue_out(cue):
        if not console.is_terminal:
            console.print(f"{cue.time_s:7.1f} s  CUE: {cue.text}")
        if stream is not None:
            stream.send(cue.to_dict())

    run = LiveRun(args.mass_kg, folder=folder, cues=cues, speaker=speaker, on_cue=cue_out, keep_steps=False)

    def status(rec) -> None:
        for role, s in rec.status.items():
            run.link(role, s.connected, rate_hz=s.rate_hz, lost_samples=s.lost_samples, reconnects=s.reconnects)

    result = []

    def body():
        result.append(record(sensors, folder, duration_s=args.duration_s, runner=args.runner, mass_kg=args.mass_kg,
                             rate_hz=args.rate_hz, connect_timeout_s=args.connect_timeout_s, on_status=status,
                             on_samples=run.put))

    console.print(f"Looking for {', '.join(f'{r} {t!r}' for r, t in sensors.items())}... ({run.state.sound})")
    try:
        _run_with_view(console, run, f"stridesense live {args.runner}".rstrip(), body)
    finally:
        run.close()
        if stream is not None:
            stream.close()
    console.print(f"Session closed after {result[0].duration_s:.0f} s: {result[0].folder}", soft_wrap=True)
    return _finish(console, run, None, folder)
