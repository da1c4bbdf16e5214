import numpy as np
import pytest

from stridesense.errors import InputError
from stridesense.streaming.generic_csv import read_sensor_csv, write_sensor_csv


def test_round_trip_keeps_values(tmp_path, sim_short):
    path = write_sensor_csv(sim_short.session.pelvis, tmp_path / "p.csv")
    back = read_sensor_csv(path, "pelvis")
    assert np.allclose(back.acc_mps2, sim_short.session.pelvis.acc_mps2, atol=1e-6)
    assert np.allclose(back.gyr_radps, sim_short.session.pelvis.gyr_radps, atol=1e-6)


def test_accelerometer_only_file_reads_without_gyro(tmp_path):
    t = np.arange(300) / 100
    lines = ["time_s,acc_x,acc_y,acc_z"] + [f"{x:.2f},0,0,9.81" for x in t]
    (tmp_path / "a.csv").write_text("\n".join(lines))
    d = read_sensor_csv(tmp_path / "a.csv", "pelvis")
    assert d.gyr_radps is None and d.n == 300


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n", "no data rows"),
        ("t,ax,ay,az\n0,0,0,9.8\n", "missing column"),
        ("time_s,acc_x,acc_y,acc_z,gyr_x\n0,0,0,9.8,0\n", "not all of gyr"),
        ("time_s,acc_x,acc_y,acc_z\n0,0,0,9.8\n0.01,abc,0,9.8\n", "line 3: column acc_x is not a number"),
        ("time_s,acc_x,acc_y,acc_z\n0,0,0,9.8\n0.01,,0,9.8\n", "line 3"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as e:
        read_sensor_csv(path, "pelvis")
    assert "bad.csv" in str(e.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_sensor_csv(tmp_path / "nope.csv", "pelvis")


def test_a_wholly_empty_accelerometer_axis_is_read_as_zeros_and_named(tmp_path):
    # As a data set that publishes two axes (the force-treadmill trials leave acc_y empty).
    t = np.arange(300) / 100
    lines = ["time_s,acc_x,acc_y,acc_z"] + [f"{x:.2f},9.81,,0.5" for x in t]
    (tmp_path / "two_axes.csv").write_text("\n".join(lines))
    d = read_sensor_csv(tmp_path / "two_axes.csv", "pelvis")
    assert np.all(d.acc_mps2[:, 1] == 0) and np.allclose(d.acc_mps2[:, 0], 9.81)
    assert d.meta["missing_axes"] == ["acc_y"]
