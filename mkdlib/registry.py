"""Methods and switches, defined once: every other module (config, methods, experiments, bench,
reporting) reads its names, presets and labels from here.

A method name is a preset of the paper's Table 3 switches; a run whose switches match no preset is
named by the switches it has on (``co+mt``), so a run with teachers is never called ``cps``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Switch:
    name: str
    label: str  # display name (the paper's Table 3 column)
    short: str  # in run names
    doc: str


#: The Table 3 switches, in the paper's column order.
SWITCH_LIST = (
    Switch("co_training", "co-training", "co", "two students with cross pseudo supervision (L_ss)"),
    Switch("own_teacher", "mean teacher", "mt", "each student's own EMA teacher supervises it (L_st, i -> i)"),
    Switch("mutual_mean_teacher", "mutual mean teacher", "mmt", "teacher i supervises student j != i (L_st)"),
    Switch("strong_aug", "strong aug", "sa", "students see strong aug + CutMix, teachers the weak view"),
    Switch("feature_aug", "feature aug", "fa", "ISDA feature augmentation (Eq. 3) on the students' logits"),
)
SWITCHES: tuple[str, ...] = tuple(s.name for s in SWITCH_LIST)
SWITCH_LABELS: dict[str, str] = {s.name: s.label for s in SWITCH_LIST}
#: switch names that were renamed: old -> new (configs written before the rename still load)
RENAMED_FIELDS = {"mean_teacher": "own_teacher"}


@dataclass(frozen=True)
class MethodInfo:
    name: str
    label: str  # display name
    paper_name: str  # the name in the paper's tables
    switches: tuple[str, ...]  # the switches its preset turns on
    students: int
    step_cost: float  # CPU cost of one step relative to a supervised one (measured: docs/performance.md)
    settings: tuple[tuple[str, str], ...] = ()  # non-switch config fields its preset sets (PRESET_SETTINGS)

    @property
    def preset(self) -> dict[str, bool]:
        return {s: s in self.switches for s in SWITCHES}

    @property
    def uses_unlabeled(self) -> bool:
        return bool(self.switches)

    @property
    def has_teacher(self) -> bool:
        return "own_teacher" in self.switches or "mutual_mean_teacher" in self.switches


METHOD_LIST = (
    MethodInfo("supervised", "supervised only", "Supervised", (), 1, 1.0),
    MethodInfo("mean_teacher", "mean teacher", "MT", ("own_teacher", "strong_aug"), 1, 2.0),
    MethodInfo("cps", "CPS", "CPS", ("co_training",), 2, 3.8),
    MethodInfo(
        "cps_cutmix",
        "CPS + CutMix",
        "CPS w/ CutMix",
        ("co_training", "strong_aug"),
        2,
        4.0,  # 3.9 + the partner's no-grad forwards on the weak view: 28.0 vs 27.7 CPU-min a run
        (("cps_targets", "weak_view"),),  # as CPS's CutMix code: targets from the unmixed images
    ),
    MethodInfo("mkd", "MKD", "MKD", ("co_training", "mutual_mean_teacher", "strong_aug", "feature_aug"), 2, 4.3),
)
METHOD_INFO: dict[str, MethodInfo] = {m.name: m for m in METHOD_LIST}
METHODS: tuple[str, ...] = tuple(METHOD_INFO)
METHOD_PRESETS: dict[str, dict[str, bool]] = {m.name: m.preset for m in METHOD_LIST}

#: config fields (not switches) that a method's preset may set, with the value for every other method.
#: ``cps_targets``: where the partner's L_ss target comes from. ``student_view`` (the released MKD
#: code): its argmax on the students' own view (strong + CutMix); ``weak_view`` (CPS's CutMix code):
#: a no-grad forward of the partner on the weak, unmixed images, mixed with the same CutMix mask.
PRESET_SETTINGS: dict[str, str] = {"cps_targets": "student_view"}
CPS_TARGETS = ("student_view", "weak_view")


def preset_setting(method: str, field: str) -> str:
    """The value of a PRESET_SETTINGS field that ``method``'s preset gives."""
    return (
        dict(METHOD_INFO[method].settings).get(field, PRESET_SETTINGS[field])
        if method in METHOD_INFO
        else PRESET_SETTINGS[field]
    )


def run_name(method: str, switches: dict[str, bool]) -> str:
    """What ran: the method's name when the switches are its preset, else the switches that are on."""
    if switches == METHOD_PRESETS.get(method):
        return method
    on = [s.short for s in SWITCH_LIST if switches.get(s.name)]
    return "+".join(on) if on else method
