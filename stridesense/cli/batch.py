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
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console

    from stridesense.batch import run_batch

    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    console = Console(highlight=False)
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("sessions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("batch", total=None)
            result = run_batch(args.root, args.out, scheduler=args.scheduler, n_workers=args.workers,
                               mass_kg=args.mass_kg, progress=lambda d, n: bar.update(task, completed=d, total=n))
    else:
        result = run_batch(args.root, args.out, scheduler=args.scheduler, n_workers=args.workers, mass_kg=args.mass_kg)
    console.print(f"{len(result.analysed)} sessions analysed, {len(result.skipped)} unchanged (cached), "
                  f"{len(result.failed)} failed; {len(result.steps)} steps -> {args.out}")
    for folder, error in result.failed.items():
        console.print(f"failed: {folder}: {error}", markup=False)
    for runner, flags in result.load_flags.items():
        for flag in flags:
            console.print(f"{runner}: {flag.message} ({flag.source.split(': ')[0]})", markup=False)
    return 1 if result.failed and not (result.analysed or result.skipped) else 0
