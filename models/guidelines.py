"""Guideline flags for a session, each with its threshold and its source.

Thresholds marked "our choice" are not from the cited paper; the paper is
the reason the quantity matters.  docs/guidelines.md lists them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BRAMAH_2018 = ("Bramah et al. 2018, Am J Sports Med 46:3023: injured runners showed more contralateral pelvic drop; "
               "each extra degree raised the odds of injury by about 80 %")
TENG_POWERS_2014 = ("Teng & Powers 2014, J Orthop Sports Phys Ther 44:785: more forward trunk lean shifts load from "
                    "the knee to the hip; METRICS.md: about 8-10 degrees moves load from the lumbar spine to the hips")
HEIDERSCHEIT_2011 = ("Heiderscheit et al. 2011, Med Sci Sports Exerc 43:296: a 5-10 % higher step rate shortens the "
                     "stride and lowers hip and knee loading; landing ahead of the hips brakes")
CAVANAGH_1980 = "Cavanagh & Lafortune 1980, J Biomech 13:397: vertical force peaks of about 2.5-3 body weights in running"
CLERMONT_2019 = ("Clermont et al. 2019, J Appl Biomech 35:401: atypical changes in pelvic drop, braking, cadence and "
                 "contact time began late in a marathon")

LEAN_BAND_DEG = (8.0, 10.0)
LEAN_FAR_DEG = (5.0, 14.0)
DROP_HIGH_DEG = 7.0  # our choice, from the size of the group differences reported
DROP_ASYMMETRY_PCT = 15.0  # our choice
BRAKING_HIGH_MPS = 0.25  # our choice
CONTACT_LONG_MS = 270.0  # our choice
PEAK_FORCE_HIGH_BW = 3.0
CADENCE_LOW_SPM = 160.0  # our choice
FATIGUE_DEG = 2.0  # our choice


@dataclass(frozen=True)
class Flag:
    """One finding: what, how far from the guideline, and why it matters."""

    id: str
    severity: str  # "info" | "warning"
    message: str
    value: float
    threshold: str
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(x) -> bool:
    return x is not None and np.isfinite(x)


def evaluate(summary) -> list[Flag]:
    """Flags for a :class:`stridesense.models.summary.SessionSummary`."""
    flags: list[Flag] = []
    m = summary.mean
    # Lean and obliquity are angles from neutral: without a standing neutral they have no zero to be
    # judged against (their changes within the run still can be).
    neutral = getattr(summary, "neutral_known", True)
    lean = m("trunk_lean_deg")
    if neutral and _finite(lean) and not LEAN_BAND_DEG[0] <= lean <= LEAN_BAND_DEG[1]:
        far = lean < LEAN_FAR_DEG[0] or lean > LEAN_FAR_DEG[1]
        what = ("more upright: the lumbar facets and discs take more of the load" if lean < LEAN_BAND_DEG[0]
                else "further forward than needed")
        flags.append(Flag("trunk_lean", "warning" if far else "info",
                          f"mean forward trunk lean {lean:.1f} deg, outside 8-10 deg ({what})", lean,
                          "8-10 deg forward", TENG_POWERS_2014))
    drop = m("pelvic_drop_deg")
    if neutral and _finite(drop) and drop > DROP_HIGH_DEG:
        flags.append(Flag("pelvic_drop", "warning", f"mean contralateral pelvic drop {drop:.1f} deg", drop,
                          f"> {DROP_HIGH_DEG:.0f} deg (our choice)", BRAMAH_2018))
    ai = summary.asymmetry_pct.get("pelvic_drop_deg", np.nan)
    if _finite(ai) and abs(ai) > DROP_ASYMMETRY_PCT:
        worse = "left" if ai < 0 else "right"
        flags.append(Flag("pelvic_drop_asymmetry", "info",
                          f"pelvic drop is asymmetric ({ai:+.0f} %): more in {worse} stance "
                          f"(the {'right' if worse == 'left' else 'left'} side drops)",
                          ai, f"|asymmetry| > {DROP_ASYMMETRY_PCT:.0f} % (our choice)", BRAMAH_2018))
    braking, contact = m("braking_mps"), m("contact_time_ms")
    if _finite(braking) and _finite(contact) and braking > BRAKING_HIGH_MPS and contact > CONTACT_LONG_MS:
        flags.append(Flag("overstriding", "warning",
                          f"high braking ({braking:.2f} m/s lost per step) with long contact ({contact:.0f} ms): "
                          "likely over-striding", braking,
                          f"> {BRAKING_HIGH_MPS} m/s and > {CONTACT_LONG_MS:.0f} ms (our choice)", HEIDERSCHEIT_2011))
    cadence = m("cadence_spm")
    if _finite(cadence) and cadence < CADENCE_LOW_SPM:
        flags.append(Flag("cadence_low", "info", f"cadence {cadence:.0f} spm: a 5-10 % higher step rate lowers "
                          "hip and knee loading", cadence, f"< {CADENCE_LOW_SPM:.0f} spm (our choice)",
                          HEIDERSCHEIT_2011))
    force = m("peak_vgrf_bw")
    if _finite(force) and force > PEAK_FORCE_HIGH_BW:
        flags.append(Flag("impact_high", "info", f"peak vertical force {force:.2f} BW, above the usual 2.5-3 BW",
                          force, f"> {PEAK_FORCE_HIGH_BW} BW", CAVANAGH_1980))
    for metric, label in (("pelvic_drop_deg", "pelvic drop"), ("trunk_lean_deg", "trunk lean")):
        change = summary.fatigue.loc[metric, "change"] if metric in summary.fatigue.index else np.nan
        if _finite(change) and abs(change) > FATIGUE_DEG:
            flags.append(Flag(f"fatigue_{metric}", "info",
                              f"{label} changed by {change:+.1f} deg from the first to the last fifth of the run",
                              float(change), f"|change| > {FATIGUE_DEG:.0f} deg (our choice)", CLERMONT_2019))
    return flags
