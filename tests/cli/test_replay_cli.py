import pandas as pd

from stridesense.cli import main
from stridesense.models.cues import CueEngine
from stridesense.streaming.replay import replay_chunks


def test_replay_gives_the_offline_table(tmp_path, capsys):
    sample = "recordings/sample"
    off, rep = tmp_path / "off.csv", tmp_path / "rep.csv"
    assert main(["analyze", "--pelvis", f"{sample}/pelvis.csv", "--trunk", f"{sample}/trunk.csv", "--out", str(off),
                 "--quiet"]) == 0
    assert main(["replay", "--pelvis", f"{sample}/pelvis.csv", "--trunk", f"{sample}/trunk.csv", "--speed", "0",
                 "--out", str(rep)]) == 0
    a, b = pd.read_csv(off), pd.read_csv(rep)
    assert len(a) == len(b) > 300
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-6)


def test_replay_paces_itself_at_the_requested_speed(sim_short):
    now = [0.0]

    def sleep(dt):
        now[0] += dt

    chunks = list(replay_chunks(sim_short.session, chunk_s=0.5, speed=10.0, sleep=sleep, clock=lambda: now[0]))
    assert len(chunks) >= 140
    assert now[0] == __import__("pytest").approx(75 / 10, abs=0.2)  # duration / speed


def test_cues_come_once_per_refractory_period():
    steps = pd.DataFrame({"ic_s": [0.35 * k for k in range(400)], "trunk_lean_deg": 2.0, "pelvic_drop_deg": 5.0,
                          "cadence_spm": 170.0, "quality": "ok"})
    cues = CueEngine(window_steps=10, refractory_s=60.0).push(steps)
    assert [c.id for c in cues] == ["lean", "lean", "lean"]  # 140 s of steps: at 3 s, 63 s, 123 s
    assert "lean forward" in cues[0].text
