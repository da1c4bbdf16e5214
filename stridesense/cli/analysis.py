"""`stridesense demo`, `analyze` and `simulate` (`replay` is in :mod:`stridesense.cli.live`)."""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from pathlib import Path

from stridesense.errors import InputError

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "recordings" / "sample"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="analyse the bundled sample session (no sensors needed)")
    p.add_argument("--out", help="step table to write (.csv or .parquet); none by default")
    p.set_defaults(func=run_demo, skip_teardown=True)

    p = sub.add_parser("analyze", help="analyse a session: per-step table and summary")
    _session_args(p)
    p.add_argument("--out", help="step table to write (.csv or .parquet)")
    p.add_argument("--summary-out", help="session summary table to write (.csv or .parquet)")
    p.add_argument("--plot", help="a PNG of the session's metrics over time")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run_analyze, skip_teardown=True)

    p = sub.add_parser("simulate", help="simulate a session with ground truth (generic CSVs)")
    p.add_argument("outdir", help="folder to write pelvis.csv, trunk.csv, truth_steps.csv, params.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration-s", type=float, default=120.0)
    p.add_argument("--pelvis-rate-hz", type=float, default=200.0)
    p.add_argument("--trunk-rate-hz", type=float, default=104.0, help="0 for a pelvis-only session")
    p.add_argument("--cadence-spm", type=float, default=None)
    p.add_argument("--speed-mps", type=float, default=None)
    p.add_argument("--mass-kg", type=float, default=70.0)
    p.add_argument("--native", action="store_true",
                   help="also write OUTDIR/session, a native session folder (as `record` writes)")
    p.set_defaults(func=run_simulate)


def _session_args(p: argparse.ArgumentParser) -> None:
    """The ways to name a session: a session folder, or per-sensor generic CSVs."""
    p.add_argument("session", nargs="?", help="a session folder (from `record` or `import`)")
    p.add_argument("--pelvis", help="pelvis sensor, generic CSV (METRICS.md)")
    p.add_argument("--trunk", help="trunk sensor, generic CSV (optional)")
    p.add_argument("--mass-kg", type=float, default=None, help="body mass, kg (default: the session's, or 70)")
    p.add_argument("--keep-roles", action="store_true",
                   help="take pelvis and trunk as given (no check of which sensor is which from the signals)")


def _check_session_args(args, verb: str) -> None:
    """Check the session arguments; a folder of generic CSVs (pelvis.csv, trunk.csv) becomes --pelvis/--trunk."""
    if args.session and (args.pelvis or args.trunk):
        raise InputError("give either a session folder or --pelvis/--trunk files, not both")
    if not args.session and not args.pelvis:
        raise InputError(f"nothing to {verb}: give a session folder or --pelvis FILE.csv")
    if args.session:
        from stridesense.streaming.session_folder import session_folder

        found = session_folder(args.session)
        if not found.native:  # the generic-CSV folder `batch` accepts, and `simulate` writes
            args.session, args.pelvis = None, str(found.pelvis_csv)
            args.trunk = str(found.trunk_csv) if found.trunk_csv else None


def _check_table_paths(**paths) -> None:
    """Refuse output names of the wrong kind before any work is done."""
    for name, value in paths.items():
        if value and Path(value).suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise InputError(f"--{name.replace('_', '-')} must end in .csv or .parquet, not {value!r}")


def _console(quiet: bool = False):
    from rich.console import Console

    return Console(quiet=quiet, highlight=False)


def _import_analysis() -> None:
    """Import what the analysis needs with the garbage collector off, then leave it out of later collections.

    The imports make ~130,000 objects that live as long as the process: collections while they are
    made cost ~0.08 s of a 60-minute session's `analyze`, and later ones would pass over them for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import rich.console  # noqa: F401

        import stridesense.api  # noqa: F401
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _analyze_with_progress(console, **kwargs):
    from stridesense.api import analyze

    if not console.is_terminal:
        return analyze(**kwargs)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("analysing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("analyse", total=1.0)
        return analyze(progress=lambda done, total: bar.update(task, completed=done / max(total, 1e-9)), **kwargs)


def _report(console, result, out: str | None, summary_out: str | None = None, plot: str | None = None) -> None:
    from stridesense.api import write_table

    for message in result.info.get("notices", []):  # what was changed in the input: read before the results
        console.print(f"[bold yellow]notice:[/bold yellow] {message}")
    for message in result.info.get("warnings", []):  # they change how to read the results: before them
        console.print(f"[yellow]warning:[/yellow] {message}")
    if result.summary is not None and not console.quiet:  # --quiet: nothing to lay out
        from stridesense.report import render_summary

        render_summary(result.summary, console)
    steps = result.steps
    n_ok = int((steps["quality"] == "ok").sum())
    console.print(f"{len(steps)} steps ({n_ok} without quality remarks) over {result.info['duration_s']:.0f} s")
    if out:
        console.print(f"step table: {write_table(steps, out)}")
    if summary_out and result.summary is not None:
        console.print(f"summary: {write_table(result.summary.to_frame(), summary_out)}")
    if plot:
        from stridesense.models.plots import plot_session

        plot_session(steps, result.summary, plot)
        console.print(f"plot: {plot}")


def run_analyze(args) -> int:
    _import_analysis()
    _check_session_args(args, "analyse")
    if args.mass_kg is not None:
        from stridesense.imu.data import check_mass_kg

        check_mass_kg(args.mass_kg, "--mass-kg")
    _check_table_paths(out=args.out, summary_out=args.summary_out)
    console = _console(args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collected into result.info and shown once below
        kwargs = {"session_dir": args.session} if args.session else {"pelvis": args.pelvis, "trunk": args.trunk}
        kwargs["mass_kg"] = args.mass_kg if args.mass_kg is not None or args.session else 70.0
        kwargs["check_roles"] = not args.keep_roles
        result = _analyze_with_progress(console, **kwargs)
    _report(console, result, args.out, args.summary_out, args.plot)
    return 0


def run_demo(args) -> int:
    _import_analysis()
    _check_table_paths(out=args.out)
    pelvis, trunk = SAMPLE_DIR / "pelvis.csv", SAMPLE_DIR / "trunk.csv"
    if not pelvis.exists():
        raise InputError(f"the sample session is missing from {SAMPLE_DIR}; reinstall from the repository")
    console = _console()
    console.print(f"stridesense demo: the bundled simulated session in {SAMPLE_DIR.name}/ "
                  "(pelvis 200 Hz, trunk 104 Hz, sensors clipped on at random angles)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _analyze_with_progress(console, pelvis=pelvis, trunk=trunk, mass_kg=70.0)
    _report(console, result, args.out)
    if not args.out:
        console.print("(the step table is not written: add --out steps.csv to keep it)")
    truth_path = SAMPLE_DIR / "truth_steps.csv"
    if truth_path.exists():
        import pandas as pd

        from stridesense.models.validation import compare_to_truth

        cmp = compare_to_truth(result.steps, pd.read_csv(truth_path))
        console.print(
            f"against the simulator's ground truth: {cmp.n_matched}/{cmp.n_truth} steps found, "
            f"{cmp.n_extra} extra, sides {100 * cmp.side_accuracy:.1f} % right, initial contact median "
            f"|error| {cmp.ic_median_abs_ms:.1f} ms, pelvic drop {cmp.mean_abs['pelvic_drop_deg']:.2f} deg, "
            f"trunk lean {cmp.mean_abs['trunk_lean_deg']:.2f} deg, peak force {cmp.mean_abs['peak_vgrf_bw']:.3f} BW"
        )
    return 0


def run_simulate(args) -> int:
    from stridesense.models.simulator import SimConfig, simulate_session, write_simulation

    if args.duration_s < 30:
        raise InputError("--duration-s must be at least 30 (standing calibration plus running)")
    for name in ("pelvis_rate_hz",):
        if not 50 <= getattr(args, name) <= 1000:
            raise InputError(f"--{name.replace('_', '-')} must be within 50-1000 Hz")
    if args.trunk_rate_hz and not 50 <= args.trunk_rate_hz <= 1000:
        raise InputError("--trunk-rate-hz must be within 50-1000 Hz (or 0 for no trunk sensor)")
    cfg = SimConfig(
        seed=args.seed, duration_s=args.duration_s, pelvis_rate_hz=args.pelvis_rate_hz,
        trunk_rate_hz=args.trunk_rate_hz or None, cadence_spm=args.cadence_spm, speed_mps=args.speed_mps,
        mass_kg=args.mass_kg,
    )
    sim = simulate_session(cfg)
    paths = write_simulation(sim, args.outdir)
    if args.native:
        from stridesense.streaming.recording import write_session

        paths["session"] = write_session(Path(args.outdir) / "session", sim.session, simulated_seed=args.seed)
    print(f"simulated {len(sim.truth)} steps over {args.duration_s:.0f} s into {args.outdir}: "
          + ", ".join(p.name for p in paths.values()), file=sys.stdout)
    return 0
