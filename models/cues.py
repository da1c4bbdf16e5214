"""Biofeedback cues for a runner: rules and targets from a small TOML file.

A rule watches one metric of the step table.  A cue is due when the rolling
mean of the last ``window_steps`` trusted steps has left the rule's band
(``low``/``high``) for ``hold_steps`` steps running; the band is re-entered
only ``hysteresis`` inside it.  One cue at a time (``min_gap_s`` between any
two), each rule at most once per refractory time (30 s or more), none in the
first ``warmup_steps`` steps, and an optional fading schedule that makes
cues rarer as a session (``every_min``) or a programme (``fade_from_session``)
goes on.  Rules on angles read from neutral (trunk lean, pelvic drop) count
only steps whose neutral came from standing still, as the session's
guideline flags do.  The sources (../shared/LITERATURE.md): Willy, Scholz & Davis 2012
(pelvic drop, faded over the last sessions), Willy et al. 2016 and
Heiderscheit et al. 2011 (step rate +5-10 %, metronome), Crowell & Davis 2010
(impact), Wood & Kipp 2014 (bandwidth feedback).

The shipped defaults are :data:`DEFAULT_CUES_TOML`; a user's file is read
over them (a ``[rule.NAME]`` table replaces or adds that rule).  Errors are
refused before a run with the file and line named (:class:`CueFileError`).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from stridesense.errors import InputError
from stridesense.models.summary import UNTRUSTED

MIN_REFRACTORY_S = 30.0
# Angles read from neutral: judged against a band only when neutral came from standing still (the step's
# `neutral` column), as the session's guideline flags are (models.guidelines, docs/guidelines.md).
# Relative to the running posture, lean reads near 0 and a "lean forward" cue would be said to everyone.
FROM_NEUTRAL = frozenset({"trunk_lean_deg", "pelvic_drop_deg"})

# metric -> (lowest and highest plausible target, unit, sensor it needs)
METRICS: dict[str, tuple[float, float, str, str]] = {
    "cadence_spm": (120.0, 230.0, "steps/min", "pelvis"),
    "contact_time_ms": (100.0, 450.0, "ms", "pelvis"),
    "flight_time_ms": (0.0, 250.0, "ms", "pelvis"),
    "pelvic_drop_deg": (0.0, 20.0, "deg", "pelvis"),
    "trunk_lean_deg": (-10.0, 35.0, "deg", "trunk"),
    "peak_vgrf_bw": (1.2, 5.0, "BW", "pelvis"),
    "vertical_oscillation_cm": (2.0, 20.0, "cm", "pelvis"),
    "braking_mps": (0.0, 1.0, "m/s", "pelvis"),
}

DEFAULT_CUES_TOML = """\
# stridesense cue rules: the shipped defaults.  A file given with --cues is
# read over these: top-level keys replace these, [rule.NAME] replaces or adds
# one rule, `enabled = false` in a rule turns it off.
window_steps = 12     # rolling mean of the last 12 trusted steps
hold_steps = 4        # ... out of its band this many steps running before a cue
warmup_steps = 30     # no cues in the first strides after calibration
min_gap_s = 8         # one cue at a time: at least this long between any two
refractory_s = 60     # each rule at most once a minute (30 s or more)

[fading]
every_min = 0          # e.g. 10: refractory times grow by `factor` every 10 min of the session
factor = 1.5
programme_session = 1  # this run's number in a retraining programme
fade_from_session = 0  # e.g. 5: from session 5 on, refractory x session_factor per session (Willy 2012)
session_factor = 2.0

[metronome]
enabled = false
target_pct = 7.5       # a beat at +7.5 % of the runner's own step rate (Willy 2016; +5-10 %, Heiderscheit 2011)
baseline_steps = 60    # the runner's own rate: mean of the first 60 trusted steps after the warm-up
tolerance_spm = 3      # below target - tolerance (rolling mean): the cue below
adapt_s = 30           # ... but not in the first 30 s of the beat, while the runner finds it
text = "step with the beat"

[rule.trunk_lean]
metric = "trunk_lean_deg"
low = 5.0
high = 14.0
hysteresis = 1.0
text_low = "lean forward a little from the ankles"
text_high = "run a little taller"

[rule.pelvic_drop]
metric = "pelvic_drop_deg"
high = 7.0
hysteresis = 1.0
per_side = true
text_high = "hold your hips level on your {side} leg"

[rule.cadence]
metric = "cadence_spm"
low = 155.0
hysteresis = 3.0
text_low = "quicker, shorter steps"

[rule.impact]
metric = "peak_vgrf_bw"
high = 3.0
hysteresis = 0.2
text_high = "land softer, quieter feet"
"""

_TOP_KEYS = {"window_steps": (3, 200), "hold_steps": (1, 100), "warmup_steps": (0, 2000),
             "min_gap_s": (0.0, 600.0), "refractory_s": (MIN_REFRACTORY_S, 3600.0)}
_FADING_KEYS = {"every_min": (0.0, 600.0), "factor": (1.0, 10.0), "programme_session": (1, 1000),
                "fade_from_session": (0, 1000), "session_factor": (1.0, 10.0)}
_METRONOME_KEYS = {"enabled": None, "target_pct": (0.0, 20.0), "target_spm": (120.0, 230.0),
                   "baseline_steps": (5, 1000), "tolerance_spm": (0.5, 20.0), "adapt_s": (0.0, 600.0),
                   "text": None}
_RULE_KEYS = {"metric", "low", "high", "hysteresis", "per_side", "text_low", "text_high", "refractory_s", "enabled"}


class CueFileError(InputError):
    """A cue file that cannot be used: the message names the file and line."""


@dataclass(frozen=True)
class Rule:
    """One metric's band and what to say outside it."""

    name: str
    metric: str
    low: float = -math.inf
    high: float = math.inf
    hysteresis: float = 0.0
    per_side: bool = False
    text_low: str = ""
    text_high: str = ""
    refractory_s: float | None = None

    @property
    def sensor(self) -> str:
        return METRICS[self.metric][3]

    def texts(self) -> list[str]:
        """Every sentence this rule can say (rendered to audio before a run)."""
        out = []
        for text in (self.text_low, self.text_high):
            if text:
                out += [text.format(side=s) for s in ("left", "right")] if "{side}" in text else [text]
        return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Fading:
    every_min: float = 0.0
    factor: float = 1.5
    programme_session: int = 1
    fade_from_session: int = 0
    session_factor: float = 2.0

    def scale(self, session_min: float) -> float:
        """Factor on every refractory time at ``session_min`` minutes into the session."""
        k = math.floor(session_min / self.every_min) if self.every_min > 0 else 0
        s = self.programme_session - self.fade_from_session + 1 if self.fade_from_session > 0 else 0
        return self.factor ** k * self.session_factor ** max(s, 0)


@dataclass(frozen=True)
class Metronome:
    enabled: bool = False
    target_pct: float = 7.5
    target_spm: float | None = None
    baseline_steps: int = 60
    tolerance_spm: float = 3.0
    adapt_s: float = 30.0
    text: str = "step with the beat"


@dataclass(frozen=True)
class CueConfig:
    """Everything a cue file sets (see :data:`DEFAULT_CUES_TOML`)."""

    rules: tuple[Rule, ...]
    window_steps: int = 12
    hold_steps: int = 4
    warmup_steps: int = 30
    min_gap_s: float = 8.0
    refractory_s: float = 60.0
    fading: Fading = Fading()
    metronome: Metronome = Metronome()

    def texts(self) -> list[str]:
        """Every sentence a session with this configuration can say."""
        out = [t for r in self.rules for t in r.texts()]
        return list(dict.fromkeys(out + ([self.metronome.text] if self.metronome.enabled else [])))


@dataclass(frozen=True)
class Cue:
    """A short instruction for the runner at a moment of the session.

    ``time_s`` is the session time of the step that triggered it; ``value``
    the rolling mean that was out of its band.
    """

    time_s: float
    rule: str
    metric: str
    value: float
    text: str
    side: str | None = None

    @property
    def t_s(self) -> float:
        return self.time_s

    def to_dict(self) -> dict:
        """The cue log's line (JSON): time_s, metric, value, text, rule, side."""
        d = asdict(self)
        d["value"] = round(float(self.value), 3)
        d["time_s"] = round(float(self.time_s), 3)
        return d


# -- reading ---------------------------------------------------------------------------------------------------------
class _Lines:
    """Where each table header and key of a TOML text is (for messages naming the line)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")

    def __init__(self, text: str):
        self.where: dict[tuple, int] = {}
        table: tuple = ()
        for n, line in enumerate(text.splitlines(), 1):
            if m := self._HEADER.match(line):
                table = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
                self.where.setdefault(table, n)
            elif m := self._KEY.match(line):
                self.where.setdefault((*table, m.group(1).strip("\"'")), n)

    def line(self, *path: str) -> int | None:
        for k in range(len(path), 0, -1):
            if path[:k] in self.where:
                return self.where[path[:k]]
        return None


class _Reader:
    def __init__(self, text: str, source: str):
        self.lines, self.source = _Lines(text), source

    def error(self, message: str, *path: str) -> CueFileError:
        n = self.lines.line(*path)
        return CueFileError(f"line {n}: {message}" if n else message, self.source)

    def number(self, table: dict, key: str, bounds, *path: str, integer: bool = False):
        value = table[key]
        if bounds is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            raise self.error(f"{key} must be {'a whole number' if integer else 'a number'}, not {value!r}", *path, key)
        lo, hi = bounds
        if not lo <= value <= hi:
            raise self.error(f"{key} = {value} is outside {lo}-{hi}", *path, key)
        return value

    def section(self, table, keys: dict, *path: str) -> dict:
        if not isinstance(table, dict):
            raise self.error(f"{'.'.join(path)} must be a table", *path)
        out = {}
        for key, value in table.items():
            if key not in keys:
                raise self.error(f"unknown setting {key!r} (known: {', '.join(keys)})", *path, key)
            bounds = keys[key]
            out[key] = self.number(table, key, bounds, *path, integer=isinstance(bounds, tuple)
                                   and isinstance(bounds[0], int) and not isinstance(bounds[0], bool))
        return out

    def rule(self, name: str, table, default_refractory: float) -> Rule | None:
        path = ("rule", name)
        if not isinstance(table, dict):
            raise self.error(f"rule.{name} must be a table", *path)
        for key in table:
            if key not in _RULE_KEYS:
                raise self.error(f"unknown setting {key!r} in rule.{name} (known: {', '.join(sorted(_RULE_KEYS))})",
                                 *path, key)
        if table.get("enabled", True) is False:
            return None
        metric = table.get("metric")
        if metric not in METRICS:
            raise self.error(f"rule.{name}: unknown metric {metric!r} (cues can watch: {', '.join(METRICS)})",
                             *path, "metric")
        lo_ok, hi_ok, unit, _ = METRICS[metric]
        if "low" not in table and "high" not in table:
            raise self.error(f"rule.{name} needs a low or a high bound", *path)
        bounds = {}
        for key in ("low", "high"):
            if key in table:
                value = self.number(table, key, (-math.inf, math.inf), *path)
                if not lo_ok <= value <= hi_ok:
                    raise self.error(f"rule.{name}: {key} = {value} {unit} is not a possible target for {metric} "
                                     f"({lo_ok:g}-{hi_ok:g} {unit})", *path, key)
                text = table.get(f"text_{key}")
                if not isinstance(text, str) or not text.strip():
                    raise self.error(f"rule.{name} has a {key} bound but no text_{key} to say", *path, key)
                bounds[key] = float(value)
        low, high = bounds.get("low", -math.inf), bounds.get("high", math.inf)
        if low >= high:
            raise self.error(f"rule.{name}: low ({low:g}) must be below high ({high:g})", *path, "low")
        hyst = float(self.number(table, "hysteresis", (0.0, math.inf), *path)) if "hysteresis" in table else 0.0
        if math.isfinite(high - low) and hyst >= (high - low) / 2:
            raise self.error(f"rule.{name}: hysteresis {hyst:g} leaves no band between {low:g} and {high:g}",
                             *path, "hysteresis")
        refractory = (float(self.number(table, "refractory_s", _TOP_KEYS["refractory_s"], *path))
                      if "refractory_s" in table else default_refractory)
        for key in ("text_low", "text_high"):
            text = table.get(key, "")
            if not isinstance(text, str):
                raise self.error(f"{key} must be text", *path, key)
            try:
                text.format(side="left")
            except (KeyError, IndexError, ValueError):
                raise self.error(f"{key}: only {{side}} may appear in braces", *path, key) from None
        per_side = table.get("per_side", False)
        if not isinstance(per_side, bool):
            raise self.error("per_side must be true or false", *path, "per_side")
        return Rule(name, metric, low, high, hyst, per_side, table.get("text_low", ""), table.get("text_high", ""),
                    refractory)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if key == "rule" and isinstance(value, dict):
            out["rule"] = {**base.get("rule", {}), **value}
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = {**base[key], **value}
        else:
            out[key] = value
    return out


def _parse(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CueFileError(f"not valid TOML: {e}", source) from None


def load_cue_config(path: str | Path | None = None, *, text: str | None = None) -> CueConfig:
    """The shipped defaults, with a cue file (``path`` or ``text``) read over them.

    Raises
    ------
    CueFileError
        Unknown settings or metrics, impossible targets, bad TOML; the message names the line.
    """
    source = str(path) if path is not None else "cue file"
    data = _parse(DEFAULT_CUES_TOML, "defaults")
    reader = _Reader(DEFAULT_CUES_TOML, "defaults")
    if path is not None or text is not None:
        if text is None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CueFileError("no such cue file", source) from None
            except (OSError, UnicodeDecodeError) as e:
                raise CueFileError(f"cannot read it ({e})", source) from None
        user = _parse(text, source)
        reader = _Reader(text, source)
        known = set(_TOP_KEYS) | {"fading", "metronome", "rule"}
        for key in user:
            if key not in known:
                raise reader.error(f"unknown setting {key!r} (known: {', '.join(sorted(known))})", key)
        data = _merge(data, user)
        # The user's lines name where a problem is; a default untouched by the file cannot be wrong.
    top = {k: data[k] for k in _TOP_KEYS if k in data}
    top = reader.section(top, _TOP_KEYS)
    fading = Fading(**reader.section(data.get("fading", {}), _FADING_KEYS, "fading"))
    metronome = Metronome(**reader.section(data.get("metronome", {}), _METRONOME_KEYS, "metronome"))
    if not isinstance(metronome.enabled, bool):
        raise reader.error("enabled must be true or false", "metronome", "enabled")
    if not isinstance(metronome.text, str) or not metronome.text.strip():
        raise reader.error("text must be a sentence", "metronome", "text")
    rules_table = data.get("rule", {})
    if not isinstance(rules_table, dict):
        raise reader.error("rule must hold tables such as [rule.cadence]", "rule")
    refractory = float(top.get("refractory_s", 60.0))
    rules = tuple(r for name, t in rules_table.items() if (r := reader.rule(name, t, refractory)) is not None)
    return CueConfig(rules=rules, fading=fading, metronome=metronome,
                     **{k: (float(v) if k.endswith("_s") else int(v)) for k, v in top.items()})


# -- the engine ------------------------------------------------------------------------------------------------------
@dataclass
class _Track:
    """One rule (and side): its recent values and whether its mean is out of band."""

    values: deque
    out: str | None = None  # "low" | "high"
    out_steps: int = 0
    mean: float = float("nan")


def untrusted_for(quality: str, sensor: str) -> bool:
    """True if a step's quality remarks make its numbers from ``sensor`` unusable."""
    reasons = set(str(quality or "").split(";")) if quality == quality else set()
    reasons = {r.strip() for r in reasons}
    bad = set(UNTRUSTED) | ({"trunk_missing"} if sensor == "trunk" else set())
    return bool(reasons & bad)


@dataclass
class CueEngine:
    """Turn completed steps into cues (see the module's docstring).

    Parameters
    ----------
    config
        Rules and schedules (:func:`load_cue_config`; default: the shipped ones).
    on_cue
        Called with each :class:`Cue` as it is decided (for other programs).
    on_metronome
        Called with the metronome's target step rate (steps/min) once known.
    """

    config: CueConfig = field(default_factory=load_cue_config)
    on_cue: Callable[[Cue], None] | None = None
    on_metronome: Callable[[float], None] | None = None
    n_steps: int = 0
    metronome_spm: float | None = None
    metronome_from_s: float | None = None
    _tracks: dict = field(default_factory=dict)
    _last: dict = field(default_factory=dict)
    _last_any: float = -math.inf
    _t_first: float | None = None
    _paused: set = field(default_factory=set)
    _baseline: list = field(default_factory=list)
    _t: float = -math.inf
    _no_neutral: set = field(default_factory=set)

    def pause(self, sensor: str, paused: bool = True) -> None:
        """Hold (or resume) the rules that need ``sensor``; their rolling means restart on resuming."""
        if paused:
            self._paused.add(sensor)
        elif sensor in self._paused:
            self._paused.discard(sensor)
            for (rule, _side), track in self._tracks.items():
                if getattr(self._rule(rule), "sensor", sensor) == sensor:
                    track.values.clear()
                    track.out, track.out_steps = None, 0

    @property
    def paused(self) -> set[str]:
        return set(self._paused)

    @property
    def off_without_standing(self) -> list[str]:
        """Rules held because the steps' neutral is the running posture, not standing (:data:`FROM_NEUTRAL`)."""
        return sorted(self._no_neutral)

    def refractory_s(self, rule: Rule, t_s: float) -> float:
        """The rule's refractory time at session time ``t_s`` (fading applied)."""
        base = rule.refractory_s if rule.refractory_s is not None else self.config.refractory_s
        minutes = 0.0 if self._t_first is None else (t_s - self._t_first) / 60.0
        return base * self.config.fading.scale(minutes)

    def push(self, steps: Iterable[dict] | object) -> list[Cue]:
        """Add newly completed steps (rows as dicts, or a DataFrame); return the cues due now (0 or 1 per step)."""
        rows = steps.to_dict("records") if hasattr(steps, "to_dict") else list(steps or [])
        cues = []
        for row in rows:
            cue = self._step(row)
            if cue is not None:
                cues.append(cue)
                if self.on_cue is not None:
                    self.on_cue(cue)
        return cues

    # -- internals -----------------------------------------------------------
    def _rules(self) -> list[Rule]:
        rules = list(self.config.rules)
        m = self.config.metronome
        if m.enabled and self.metronome_spm is not None and self._t >= self.metronome_from_s + m.adapt_s:
            rules.append(Rule("metronome", "cadence_spm", low=self.metronome_spm - m.tolerance_spm,
                              hysteresis=min(m.tolerance_spm, 2.0), text_low=m.text))
        return rules

    def _rule(self, name: str) -> Rule:
        return next((r for r in self._rules() if r.name == name), None)

    def _step(self, row: dict) -> Cue | None:
        t = float(row.get("ic_s", np.nan))
        if not np.isfinite(t):
            return None
        self.n_steps += 1
        self._t = t
        if self._t_first is None:
            self._t_first = t
        warm = self.n_steps > self.config.warmup_steps
        quality = row.get("quality", "")
        self._metronome(row, quality, warm)
        due = []
        for rule in self._rules():
            value = row.get(rule.metric, np.nan)
            value = float(value) if value is not None else np.nan
            side = row.get("side") if rule.per_side else None
            if rule.sensor in self._paused or not np.isfinite(value) or untrusted_for(quality, rule.sensor):
                continue
            if rule.metric in FROM_NEUTRAL and row.get("neutral", "standing") != "standing":
                self._no_neutral.add(rule.name)
                continue
            self._no_neutral.discard(rule.name)
            track = self._tracks.setdefault((rule.name, side), _Track(deque(maxlen=self.config.window_steps)))
            track.values.append(value)
            if len(track.values) < self.config.window_steps:
                continue
            track.mean = mean = float(np.mean(track.values))
            if track.out == "low" and mean >= rule.low + rule.hysteresis:
                track.out = None
            elif track.out == "high" and mean <= rule.high - rule.hysteresis:
                track.out = None
            if track.out is None:
                track.out = "low" if mean < rule.low else "high" if mean > rule.high else None
                track.out_steps = 0
            if track.out is None:
                continue
            track.out_steps += 1
            if (warm and track.out_steps >= self.config.hold_steps
                    and t - self._last.get(rule.name, -math.inf) >= self.refractory_s(rule, t)):
                bound = rule.low if track.out == "low" else rule.high
                width = rule.high - rule.low if math.isfinite(rule.high - rule.low) else max(abs(bound), 1.0)
                due.append((abs(mean - bound) / width, rule, side, mean, track.out))
        if not due or t - self._last_any < self.config.min_gap_s:
            return None
        _, rule, side, mean, out = max(due, key=lambda d: d[0])  # the furthest out, relative to its band
        self._last[rule.name] = self._last_any = t
        text = (rule.text_low if out == "low" else rule.text_high).format(
            side={"L": "left", "R": "right"}.get(side, side or ""))
        return Cue(t, rule.name, rule.metric, mean, text, side)

    def _metronome(self, row: dict, quality: str, warm: bool) -> None:
        m = self.config.metronome
        if not m.enabled or self.metronome_spm is not None:
            return
        if m.target_spm is not None:
            self.metronome_spm = float(m.target_spm)
        else:
            value = float(row.get("cadence_spm", np.nan) or np.nan)
            if warm and np.isfinite(value) and not untrusted_for(quality, "pelvis"):
                self._baseline.append(value)
            if len(self._baseline) < m.baseline_steps:
                return
            self.metronome_spm = float(np.mean(self._baseline)) * (1 + m.target_pct / 100)
        self.metronome_from_s = self._t
        if self.on_metronome is not None:
            self.on_metronome(self.metronome_spm)

