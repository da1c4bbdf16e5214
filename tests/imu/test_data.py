import numpy as np
import pytest

from stridesense.errors import InputError
from stridesense.imu.data import SensorData


def _data(n=500, fs=100.0, scale=1.0, **kw):
    t = np.arange(n) / fs
    acc = np.tile([0.0, 0.0, 9.81 * scale], (n, 1))
    return SensorData(t, acc, np.zeros((n, 3)), "pelvis", source="x.csv", **kw)


def test_valid_data_passes_and_reports_its_rate():
    d = _data().validate()
    assert d.sampling_rate_hz == pytest.approx(100.0)
    assert d.duration_s == pytest.approx(4.99)


def test_acceleration_in_g_is_refused_with_the_fix_named():
    with pytest.raises(InputError, match="in g"):
        _data(scale=1 / 9.81).validate()


def test_rate_outside_50_to_1000_hz_is_refused():
    with pytest.raises(InputError, match="sample rate"):
        _data(fs=5000.0).validate()
    with pytest.raises(InputError, match="sample rate"):
        _data(fs=10.0).validate()


def test_time_going_back_and_repeats_are_named():
    d = _data()
    t = d.time_s.copy()
    t[10] = t[9]
    with pytest.raises(InputError, match="repeats"):
        SensorData(t, d.acc_mps2, d.gyr_radps, "pelvis").validate()
    t = d.time_s.copy()
    t[10] = t[8]
    with pytest.raises(InputError, match="goes back"):
        SensorData(t, d.acc_mps2, d.gyr_radps, "pelvis").validate()


def test_nan_is_refused_with_its_sample():
    d = _data()
    acc = d.acc_mps2.copy()
    acc[42, 1] = np.nan
    with pytest.raises(InputError, match="sample 42"):
        SensorData(d.time_s, acc, d.gyr_radps, "pelvis").validate()


def test_infinite_value_is_refused_but_a_sum_overflowing_is_not():
    d = _data()
    gyr = d.gyr_radps.copy()
    gyr[7, 2] = -np.inf
    with pytest.raises(InputError, match="angular rate .* sample 7"):
        SensorData(d.time_s, d.acc_mps2, gyr, "pelvis").validate()
    gyr[7, 2], gyr[8:10, 0] = 0.0, 1e308  # finite values whose sum overflows are not missing values
    SensorData(d.time_s, d.acc_mps2, gyr, "pelvis").validate()


def test_gyro_in_degrees_per_second_is_refused():
    d = _data()
    gyr = np.full((d.n, 3), 300.0)
    with pytest.raises(InputError, match="deg/s"):
        SensorData(d.time_s, d.acc_mps2, gyr, "pelvis").validate()


def test_slices_partition_the_samples():
    d = _data()
    parts = [d.slice_time(0, 1), d.slice_time(1, 3), d.slice_time(3, 10)]
    assert sum(p.n for p in parts) == d.n
    assert np.array_equal(np.concatenate([p.time_s for p in parts]), d.time_s)


def test_unknown_role_is_refused():
    with pytest.raises(InputError, match="role"):
        SensorData(np.arange(3.0), np.zeros((3, 3)), None, "ankle")


def test_the_quietest_second_skips_a_gap_in_the_recording():
    # A sensor out of range for 2 s in the first minute (a live drop-out): no empty second is measured.
    import warnings

    from stridesense.imu.data import quietest_second

    t = np.arange(0.0, 30.0, 0.01)
    t = t[(t < 10.0) | (t >= 12.0)]
    rng = np.random.default_rng(1)
    acc = np.column_stack([np.zeros_like(t), np.zeros_like(t), 9.81 + 0.02 * rng.standard_normal(t.size)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, sd = quietest_second(t, acc)
    assert abs(mean - 9.81) < 0.01 and 0.01 < sd < 0.03


def test_samples_that_passed_are_not_checked_again_but_a_slice_of_them_is(monkeypatch):
    import stridesense.imu.data as data_module

    calls = []
    real = data_module.check_units
    monkeypatch.setattr(data_module, "check_units", lambda *a, **k: calls.append(1) or real(*a, **k))
    d = _data()
    assert d.validate().validate() is d  # a CSV read is checked, then the analysis asks again
    assert len(calls) == 1
    d.slice_time(0.0, 2.0).validate()
    assert len(calls) == 2
