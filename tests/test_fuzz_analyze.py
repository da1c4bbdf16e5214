"""Property: whatever session comes in, `analyze` gives a table or a one-line error within its time bound.

Sessions are a simulated run bent at random (tests/fuzz_sessions.py): clocks, offsets, drift, gaps, rates,
units, constant, zero, NaN and spike stretches, swapped or missing sensors, implausible masses.  The suite
runs a fixed dozen; benchmarks/fuzz_inputs.py runs hundreds of fresh ones.
"""

import warnings

from fuzz_sessions import bent_sessions, time_bound
from hypothesis import HealthCheck, given, settings

from stridesense.api import analyze_session
from stridesense.errors import StridesenseError
from stridesense.imu.consts import TABLE_COLUMNS

# A 40-s session takes 1-3 s; the bound catches a hang or a runaway (the clock-offset hang ran > 10 min),
# with room for a machine whose two cores are busy.
BOUND_S = 90


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bent_sessions())
def test_analyze_gives_a_table_or_a_one_line_error_within_its_bound(session):
    with time_bound(BOUND_S), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what the analysis warns about goes into result.info
        try:
            result = analyze_session(session)
        except StridesenseError as e:
            message = str(e)
            assert message and "\n" not in message and "Traceback" not in message
            return
    assert len(result.steps) > 0 and list(result.steps.columns) == TABLE_COLUMNS
