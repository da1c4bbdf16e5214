"""One check tells a native session folder from a folder of generic CSVs, for every command."""

import pytest

from stridesense.errors import InputError, RecordingError
from stridesense.streaming.session_folder import holds_session, session_folder


def test_a_native_folder_and_a_csv_folder_are_told_apart_with_their_files(tmp_path):
    native = tmp_path / "native"
    native.mkdir()
    (native / "manifest.json").write_text("{}")
    (native / "pelvis.csv").write_text("")  # a manifest decides, whatever else lies there
    assert session_folder(native).native and session_folder(native).pelvis_csv is None
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "pelvis.csv").write_text("")
    found = session_folder(csv)
    assert not found.native and found.pelvis_csv == csv / "pelvis.csv" and found.trunk_csv is None
    (csv / "trunk.csv").write_text("")
    assert session_folder(csv).trunk_csv == csv / "trunk.csv"


def test_what_is_not_a_session_folder_is_refused_with_what_it_lacks(tmp_path):
    with pytest.raises(InputError, match="no such session folder"):
        session_folder(tmp_path / "absent")
    (tmp_path / "run.csv").write_text("")
    with pytest.raises(InputError, match="use --pelvis"):
        session_folder(tmp_path / "run.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="neither manifest.json .* nor pelvis.csv"):
        session_folder(tmp_path / "empty")


def test_a_listing_holds_a_session_when_it_has_a_manifest_or_a_pelvis_csv():
    assert holds_session(["manifest.json", "pelvis.samples.arrow"])
    assert holds_session(["trunk.csv", "pelvis.csv"])
    assert not holds_session(["trunk.csv", "notes.txt"])
