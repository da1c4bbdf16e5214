"""`stridesense batch`: every session under a folder, in parallel on Dask."""

from __future__ import annotations

from stridesense.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("batch", help="analyse every session under a folder, in parallel (Dask)")
    p.add_argument("root", help="folder tree of sessions (native folders, or folders with pelvis.csv)")
    p.add_argument("--out", required=True, help="steps of all sessions (.parquet); summaries go beside it")
    p.add_argument("--scheduler", help="an existing Dask scheduler, e.g. tcp://host:8786 (default: local processes)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--mass-kg", type=float, default=None, help="body mass for sessions that do not record one")
    p.add_argument("--keep-roles", action="store_true",
                   help="take pelvis and trunk as the files say (no check of which sensor is which)")
    p.add_argument("--time-limit-s", type=float, default=None,
                   help="stop a session still running after this long and report it (default 600; 0: no limit)")
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console

    from stridesense.batch import run_batch

    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.time_limit_s is not None and args.time_limit_s < 0:
        raise InputError("--time-limit-s must be 0 (no limit) or positive")
    if args.mass_kg is not None:
        from stridesense.imu.data import check_mass_kg

        check_mass_kg(args.mass_kg, "--mass-kg")
    from stridesense.batch import DEFAULT_TIME_LIMIT_S

    limit = DEFAULT_TIME_LIMIT_S if args.time_limit_s is None else (args.time_limit_s or None)
    console = Console(highlight=False)
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("sessions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("batch", total=None)
            result = run_batch(args.root, args.out, scheduler=args.scheduler, n_workers=args.workers,
                               mass_kg=args.mass_kg, progress=lambda d, n: bar.update(task, completed=d, total=n),
                               time_limit_s=limit, check_roles=not args.keep_roles)
    else:
        result = run_batch(args.root, args.out, scheduler=args.scheduler, n_workers=args.workers, mass_kg=args.mass_kg,
                           time_limit_s=limit, check_roles=not args.keep_roles)
    console.print(f"{len(result.analysed)} sessions analysed, {len(result.skipped)} unchanged (cached), "
                  f"{len(result.failed)} failed ({len(result.timed_out)} stopped at the time limit); "
                  f"{len(result.steps)} steps -> {args.out}")
    for folder, error in result.failed.items():
        console.print(f"failed: {folder}: {error}", markup=False)
    for runner, flags in result.load_flags.items():
        for flag in flags:
            console.print(f"{runner}: {flag.message} ({flag.source.split(': ')[0]})", markup=False)
    return 1 if result.failed and not (result.analysed or result.skipped) else 0
