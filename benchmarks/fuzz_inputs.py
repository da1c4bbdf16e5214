"""The property test of `analyze` (tests/test_fuzz_analyze.py), run long: fresh generated sessions, with figures.

    python benchmarks/fuzz_inputs.py           # 300 sessions through the Python API
    python benchmarks/fuzz_inputs.py 1000
    python benchmarks/fuzz_inputs.py 300 --cli # through `stridesense analyze` and generic CSV files

Prints how many gave a table, how many a one-line error (by its first words), and every failure: a traceback
(an exception that is not one of stridesense's), a multi-line message, or no answer within the bound.
"""

import collections
import contextlib
import io
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fuzz_sessions import TooSlow, bent_sessions, time_bound  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from stridesense.api import analyze_session  # noqa: E402
from stridesense.cli import main  # noqa: E402
from stridesense.errors import StridesenseError  # noqa: E402
from stridesense.streaming.generic_csv import write_sensor_csv  # noqa: E402

BOUND_S = 90
args = [a for a in sys.argv[1:] if not a.startswith("--")]
n = int(args[0]) if args else 300
cli = "--cli" in sys.argv
outcomes: collections.Counter = collections.Counter()
failures: list[str] = []
slowest = [0.0]


def through_cli(session):
    """Run `stridesense analyze` on the session's generic CSVs; raise as the API would."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        argv = ["analyze", "--pelvis", str(write_sensor_csv(session.pelvis, d / "p.csv")), "--quiet",
                "--mass-kg", str(session.mass_kg), "--out", str(d / "s.csv")]
        if session.trunk is not None:
            argv += ["--trunk", str(write_sensor_csv(session.trunk, d / "t.csv"))]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        if code != 0:
            message = err.getvalue().strip().removeprefix("stridesense analyze: error: ")
            if code != 2 or "Traceback" in message:
                raise RuntimeError(f"exit {code}: {message}")
            raise StridesenseError(message)

        class Result:
            steps = [1]
        return Result()


@settings(max_examples=n, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(bent_sessions())
def run(session):
    t0 = time.perf_counter()
    try:
        with time_bound(BOUND_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = through_cli(session) if cli else analyze_session(session)
        outcomes["table"] += 1
        if not len(result.steps):
            failures.append("an empty table")
    except StridesenseError as e:
        msg = str(e)
        words = " ".join(msg.split(": ")[-1].split()[:5]) if ": " in msg else " ".join(msg.split()[:5])
        outcomes[f"error: {words}"] += 1
        if "\n" in msg:
            failures.append(f"multi-line message: {msg!r}")
    except TooSlow as e:
        failures.append(f"hang: {e}")
    except Exception:  # noqa: BLE001 - every other exception is a failure to report
        failures.append(traceback.format_exc())
    slowest[0] = max(slowest[0], time.perf_counter() - t0)


t_start = time.perf_counter()
run()
print(f"{n} generated sessions in {time.perf_counter() - t_start:.0f} s "
      f"(slowest {slowest[0]:.1f} s, bound {BOUND_S} s)")
for what, count in outcomes.most_common():
    print(f"  {count:4d}  {what}")
print(f"failures: {len(failures)}")
for f in failures[:20]:
    print("----\n" + f)
