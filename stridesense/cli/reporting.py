"""`stridesense report`, `library`, `compare` and `trends`: HTML pages for coaches and the session library."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from stridesense.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="a session's HTML report: summary, replay, every step, flags (opens offline)")
    p.add_argument("session", help="a session folder (from `record`, `import` or `simulate --native`)")
    p.add_argument("-o", "--out", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--mass-kg", type=float, default=None, help="body mass, kg (default: the session's, or 70)")
    p.set_defaults(func=run_report)

    p = sub.add_parser("compare", help="two sessions side by side in one HTML page, aligned by running time")
    p.add_argument("a", help="the first session folder (for example before a block of retraining)")
    p.add_argument("b", help="the second session folder")
    p.add_argument("-o", "--out", default="compare.html", help="HTML file to write (default compare.html)")
    p.add_argument("--align", choices=("auto", "time", "distance"), default="auto",
                   help="running time, or distance when both sessions know it (auto: distance if known)")
    p.add_argument("--mass-kg", type=float, default=None, help="body mass, kg (default: each session's, or 70)")
    p.set_defaults(func=run_compare)

    p = sub.add_parser("library", help="the session library: add session folders, list them, rebuild the catalogue")
    lib = p.add_subparsers(dest="library_command", metavar="ACTION")
    q = lib.add_parser("add", help="analyse and catalogue every session folder under a folder")
    q.add_argument("root", help="a session folder, or a folder of session folders")
    q.add_argument("--mass-kg", type=float, default=None, help="body mass for sessions that do not record one")
    _data_arg(q)
    q.set_defaults(func=run_library_add)
    q = lib.add_parser("list", help="the catalogued sessions")
    q.add_argument("--runner", help="only this runner's sessions")
    _data_arg(q)
    q.set_defaults(func=run_library_list)
    q = lib.add_parser("rebuild", help="rebuild the catalogue from the library's step tables")
    _data_arg(q)
    q.set_defaults(func=run_library_rebuild)
    p.set_defaults(func=lambda args: _library_help(p))

    p = sub.add_parser("trends", help="a runner's metrics across sessions and weeks, and the weekly load (HTML)")
    p.add_argument("--runner", required=True, help="the runner's name as recorded in the sessions")
    p.add_argument("-o", "--out", default=None, help="HTML file to write (default <runner>-trends.html)")
    _data_arg(p)
    p.set_defaults(func=run_trends)


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="DIR",
                   help="the library's data folder (default: $STRIDESENSE_DATA, else ~/.local/share/stridesense)")


def _library_help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _html_out(out: str) -> str:
    if Path(out).suffix.lower() not in (".html", ".htm"):
        raise InputError(f"-o must name an .html file, not {out!r}")
    return out


def run_report(args) -> int:
    from stridesense.reports import session_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report lists the analysis' warnings itself
        path = session_report(args.session, _html_out(args.out), mass_kg=args.mass_kg)
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_compare(args) -> int:
    from stridesense.reports import compare_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = compare_report(args.a, args.b, _html_out(args.out), align=args.align, mass_kg=args.mass_kg)
    print(f"comparison: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _library(args):
    from stridesense.library import Library

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        lib = Library(args.data)
    for note in lib.notes:
        print(f"library: {note}")
    return lib


def run_library_add(args) -> int:
    with _library(args) as lib:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = lib.add(args.root, mass_kg=args.mass_kg)
        print(f"library {lib.data_dir}: {len(result.added)} added or updated, {len(result.unchanged)} unchanged, "
              f"{len(result.failed)} failed")
        for folder, error in result.failed.items():
            print(f"  failed: {folder}: {error}")
    return 1 if result.failed and not (result.added or result.unchanged) else 0


def run_library_list(args) -> int:
    with _library(args) as lib:
        sessions = lib.sessions(args.runner)
    if sessions.empty:
        print("no sessions" + (f" of runner {args.runner!r}" if args.runner else "") + f" in {lib.data_dir}")
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{len(sessions)} session(s) in {lib.data_dir}", title_justify="left")
    for col in ("runner", "started", "running min", "steps", "folder"):
        t.add_column(col, justify="right" if col in ("running min", "steps") else "left")
    for r in sessions.itertuples():
        t.add_row(r.runner or "-", (r.started or "-")[:16].replace("T", " "), f"{r.running_time_s / 60:.1f}",
                  str(r.n_steps), r.folder)
    Console(highlight=False, markup=False).print(t)
    return 0


def run_library_rebuild(args) -> int:
    with _library(args) as lib:
        n = lib.rebuild_catalogue()
    print(f"library {lib.data_dir}: catalogue rebuilt from {n} step table(s)")
    return 0


def run_trends(args) -> int:
    from stridesense.reports import trends_report

    out = _html_out(args.out or f"{Path(args.runner).name or 'runner'}-trends.html")
    path = trends_report(args.runner, out, data_dir=args.data)
    print(f"trends: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
