"""Column names and physical constants shared by every stage.

Frames: *sensor* (the device's own axes), *segment* (x forward, y left, z up
when the runner stands upright) and *world* (z up, x along the current
heading).  See docs/coordinates.md.
"""

GRAVITY_MPS2 = 9.80665

TIME_COL = "time_s"
ACC_COLS = ["acc_x", "acc_y", "acc_z"]  # specific force, sensor frame, m/s^2
GYR_COLS = ["gyr_x", "gyr_y", "gyr_z"]  # angular rate, sensor frame, rad/s
CSV_COLS = [TIME_COL, *ACC_COLS, *GYR_COLS]

ROLES = ("pelvis", "trunk")

# Per-step table of METRICS.md, in its order.
STEP_COLUMNS = [
    "side",
    "ic_s",
    "to_s",
    "contact_time_ms",
    "flight_time_ms",
    "step_time_s",
    "cadence_spm",
    "pelvic_drop_deg",
    "trunk_lean_deg",
    "peak_vgrf_bw",
    "loading_rate_bw_s",
    "peak_acc_g",
    "vertical_oscillation_cm",
    "braking_mps",
    "pelvic_rotation_deg",
    "pelvis_trunk_rotation_deg",
    "pelvic_tilt_deg",
    "quality",
]

# Columns stridesense adds after METRICS.md's: the running bout (1, 2, ...: a
# stop or a walking break ends a bout) and how neutral (0 lean, obliquity,
# tilt) was found for the step's sensors: "standing" (a standing period
# anywhere in the session; live: before the end of the calibration's running)
# or "running_posture" (none: angles are relative to the mean running posture,
# offline of the whole recording, live of the first 20 s of running; lean and
# tilt read near 0); the model that gave peak_vgrf_bw (models.impact: "pelvis_acc",
# "spring_mass", or "" when none could).
EXTRA_STEP_COLUMNS = ["bout", "neutral", "impact_model"]
TABLE_COLUMNS = STEP_COLUMNS + EXTRA_STEP_COLUMNS

# Metrics (numeric step columns) summarised per session.
METRIC_COLUMNS = [c for c in STEP_COLUMNS if c not in ("side", "ic_s", "to_s", "quality")]

# Columns that need the trunk sensor, and those that need a gyroscope.
TRUNK_COLUMNS = ["trunk_lean_deg", "pelvis_trunk_rotation_deg"]
# Pelvic tilt and trunk lean are means over a step: the stride-averaged specific
# force gives them without a gyroscope; peaks and rotations need one.
GYRO_COLUMNS = ["pelvic_drop_deg", "pelvic_rotation_deg", "pelvis_trunk_rotation_deg"]
