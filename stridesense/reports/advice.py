"""What each guideline flag means for the back, and the exercise families that address it, in plain words.

Keyed by ``models.guidelines.Flag.id`` (and the weekly-load flags of
``models.training_load``).  The wording is general education for a coach,
not a diagnosis; docs/report.md says so too.  The loading rate raises no
flag (it is experimental and stays in the step table: models/impact.py).
"""

from __future__ import annotations

ADVICE = {
    "trunk_lean": (
        "A slight forward lean of the trunk (about 8-10 degrees) lets the hips and the big muscles behind them take "
        "the load of each landing. Running upright or leaning back puts more of it on the small joints and discs of "
        "the lower back; leaning far forward from the waist tires the back muscles instead.",
        "A forward lean from the ankles, not from the waist: wall-lean and falling-start drills, hip-hinge strength "
        "(Romanian deadlifts, good mornings), hip-flexor mobility so the pelvis can stay neutral."),
    "pelvic_drop": (
        "At each landing the hip muscles of the standing leg (gluteus medius) hold the pelvis level. When they do "
        "not, the other side of the pelvis drops and the lower spine bends sideways at every step; injured runners "
        "show more of this drop.",
        "Gluteus medius activation and single-leg strength: side-lying leg raises, clamshells, side planks, "
        "single-leg squats and step-downs, single-leg balance; then hold the hips level while running."),
    "pelvic_drop_asymmetry": (
        "The pelvis is held less well on one side than the other, so the lower back is bent sideways more in one "
        "direction; one-sided habits or an old injury are common reasons.",
        "Single-leg strength and gluteus medius work with more volume on the weaker stance side (named in the "
        "flag), checked again in a later session."),
    "overstriding": (
        "Landing with the foot well ahead of the hips brakes every step and sends the landing shock up through the "
        "knees and hips into the lower back, with a long ground contact.",
        "Landing under the hips with a higher cadence: 5-10 % more steps a minute (a metronome helps), "
        "quick-feet and short-step drills, running tall with a slight forward lean."),
    "cadence_low": (
        "Few, long steps usually mean a landing ahead of the body and bigger loads through the hips, knees and back "
        "at each step.",
        "A higher cadence: 5-10 % more steps a minute with a metronome or music, shorter quicker steps at the same "
        "speed."),
    "impact_high": (
        "Hard landings send more force through the legs and spine at every step.",
        "Softer, quieter landings under the hips, a slightly higher cadence, calf and hip strength (calf raises, "
        "squats, hops progressed gently), softer surfaces while the back is sore."),
    "fatigue_pelvic_drop_deg": (
        "The pelvis was held less level late in the run than early: the hip muscles tire, and the lower back "
        "takes more sideways bending in the last part of a run.",
        "Endurance of the hip muscles (longer sets of single-leg work, side planks held longer); shorter runs or "
        "walking breaks until form holds to the end."),
    "fatigue_trunk_lean_deg": (
        "The trunk posture changed late in the run: with tiredness runners slump forward or straighten up, and the "
        "lower back takes the difference.",
        "Trunk and hip endurance (planks, back extensions, hip-hinge work), and runs kept to the length over which "
        "posture holds, built up gradually."),
    "weekly_running_time_s": (
        "Running time rose by more than 10 % on the week before. Sudden jumps in running are a common reason for "
        "sore backs and legs, although a plan built on the 10 % rule alone did not prevent injuries.",
        "Steadier weekly build-up, an easier week every few weeks, and strength work kept up in busy weeks."),
    "weekly_distance_m": (
        "Distance rose by more than 10 % on the week before. Sudden jumps in running are a common reason for sore "
        "backs and legs, although a plan built on the 10 % rule alone did not prevent injuries.",
        "Steadier weekly build-up, an easier week every few weeks, and strength work kept up in busy weeks."),
}


def advice_for(flag_id: str) -> tuple[str, str]:
    """(what it means for the back, exercise families) for a flag id; empty strings when none."""
    return ADVICE.get(flag_id, ("", ""))
