"""Pre-flight checks of a config, a dataset and a split: every problem at once, before hours of training.

``validate(cfg)`` (``python -m mkdlib validate ...``) checks the config, the encoder name, the split
spec and its list files, and then every sample: image and mask exist and decode, mask values are
class ids or 255, image and mask sizes match. :func:`check_data` is the cheap part that
:func:`mkdlib.trainer.train` runs on the prepared data: every file exists, and at most
``cfg.validate_samples`` samples are decoded. Both collect problems instead of stopping at the first.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config, ConfigError, resolve
from .data import DataBundle, DatasetError, SplitError
from .data.datasets import MaskValueError
from .data.palette import IGNORE_INDEX
from .data.registry import DATASET_INFO, dataset_info
from .data.splits import parse_split_line
from .registry import METHOD_INFO

#: how many problems :meth:`Report.render` lists before summarising the rest
RENDER_LIMIT = 40


@dataclass(frozen=True)
class Problem:
    where: str  # the file or config field at fault
    what: str  # what is wrong and what was expected

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    """Problems found and what was looked at; ``ok`` when there are no problems."""

    problems: list[Problem] = field(default_factory=list)
    checked: Counter = field(default_factory=Counter)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str | Path, what: str) -> None:
        self.problems.append(Problem(str(where), what))

    def render(self, limit: int = RENDER_LIMIT) -> str:
        lines = [self.summary] if self.summary else []
        if self.checked:
            lines.append("checked: " + ", ".join(f"{n} {what}" for what, n in self.checked.items()))
        if self.ok:
            lines.append("OK: no problems found")
            return "\n".join(lines)
        lines.append(f"{len(self.problems)} problem(s):")
        lines += [f"  - {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        """A DatasetError listing every problem (the trainer's pre-flight stop)."""
        if not self.ok:
            raise DatasetError(
                "the data check found problems; fix them (or see "
                "`python -m mkdlib validate` with the same arguments):\n" + self.render()
            )


# --------------------------------------------------------------------------- config
def check_encoder(name: str, report: Report) -> None:
    """The encoder must be an smp encoder or ``tu-<timm model>``; no network access needed."""
    import segmentation_models_pytorch as smp

    if name.startswith("tu-"):
        import timm

        if not timm.is_model(name[3:]):
            report.add(
                "encoder",
                f"{name!r}: timm has no model {name[3:]!r}; expected 'tu-' + a name from "
                "timm.list_models(), e.g. 'tu-regnetx_002' or 'tu-resnet50'",
            )
    elif name not in smp.encoders.get_encoder_names():
        report.add(
            "encoder",
            f"{name!r} is not a segmentation_models_pytorch encoder; expected one of "
            "smp.encoders.get_encoder_names() (e.g. 'resnet50') or 'tu-<timm name>'",
        )


# --------------------------------------------------------------------------- split lists
def check_split_list(path: Path, report: Report) -> list[str]:
    """Every problem of one list file: missing, empty, repeated ids (with line numbers)."""
    if not path.is_file():
        report.add(path, "split list does not exist; expected a text file of one sample per line")
        return []
    seen: dict[str, int] = {}
    ids = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        sid = parse_split_line(line)
        if sid is None:
            continue
        if sid in seen:
            report.add(f"{path}:{lineno}", f"id {sid!r} repeats line {seen[sid]}; expected each id once")
        else:
            seen[sid] = lineno
            ids.append(sid)
    if not ids:
        report.add(path, "split list is empty; expected one sample per line")
    return ids


def _split_list_path(cfg: Config) -> Path | None:
    text = str(cfg.split).strip()
    return Path(text) if text.endswith(".txt") or ("/" in text and Path(text).exists()) else None


def check_split_lists(cfg: Config, report: Report) -> None:
    """A split given as a list file, and its sibling ``unlabeled.txt`` (U2PL/UniMatch layout) if any."""
    path = _split_list_path(cfg)
    if path is None:
        return
    labeled = check_split_list(path, report)
    sibling = path.with_name("unlabeled.txt")
    if sibling.is_file() and sibling != path:
        unlabeled = check_split_list(sibling, report)
        both = sorted(set(labeled) & set(unlabeled))
        if both:
            report.add(
                sibling,
                f"{len(both)} labeled id(s) of {path.name} also listed as unlabeled, "
                f"e.g. {both[:5]}; expected disjoint lists",
            )


# --------------------------------------------------------------------------- files
def _path(folder, kind: str, sid: str) -> Path:
    fn = getattr(folder, f"{kind}_path", None)
    return Path(fn(sid)) if fn else getattr(folder.layout, f"{kind}_path")(folder.root, sid)


def _spread(ids: list[str], k: int) -> list[str]:
    """``k`` ids evenly spaced over the list (all of them if ``k >= len``)."""
    if k >= len(ids):
        return list(ids)
    return [ids[i] for i in np.linspace(0, len(ids) - 1, k).round().astype(int)]


def _check_sample(data: DataBundle, sid: str, group: str, with_mask: bool, report: Report) -> None:
    folder = data.folder
    try:
        image = folder.image(sid)
    except DatasetError as e:
        report.add(_path(folder, "image", sid), f"{e} (id {sid!r}, {group})")
        image = None
    report.checked["images decoded"] += 1
    if not with_mask:
        return
    depth = ""
    try:
        mask = folder.mask(sid)
        values, shape = [int(v) for v in np.unique(mask)], mask.shape[:2]
    except MaskValueError as e:  # a 16- or 32-bit mask with values above 255: never wrapped into class ids
        values, shape, depth = e.values, e.shape, f" ({e.mode} mask)"
    except DatasetError as e:
        report.add(_path(folder, "mask", sid), f"{e} (id {sid!r}, {group})")
        return
    report.checked["masks decoded"] += 1
    bad = [v for v in values if not (0 <= v < data.num_classes or v == IGNORE_INDEX)]
    if bad:
        report.add(
            _path(folder, "mask", sid),
            f"values {bad[:8]} are not class ids; expected 0..{data.num_classes - 1} or "
            f"{IGNORE_INDEX} (ignore){depth} (id {sid!r}, {group})",
        )
    if image is not None and image.shape[:2] != shape:
        report.add(
            _path(folder, "mask", sid),
            f"mask is {shape[1]}x{shape[0]} but its image is {image.shape[1]}x{image.shape[0]}; "
            f"expected the same size (id {sid!r}, {group})",
        )


def _duplicates(ids) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def check_data(
    cfg: Config, data: DataBundle, max_open: int | None = None, report: Report | None = None, check_split: bool = True
) -> Report:
    """Split sanity, every id's files exist, and up to ``max_open`` samples decode (None: all)."""
    report = report if report is not None else Report()
    lab, unl, val = list(data.split.labeled), list(data.split.unlabeled), list(data.val_ids)
    report.summary = report.summary or (
        f"dataset {cfg.dataset} at {data.folder.root}, split {cfg.split!r}: "
        f"{len(lab)} labeled, {len(unl)} unlabeled, {len(val)} validation ids"
    )
    if not lab:
        report.add("split", f"{cfg.split!r} labels no image; expected at least one labeled id")
    if not val:
        report.add("validation list", "is empty; expected at least one validation id")
    if check_split and METHOD_INFO[cfg.method].uses_unlabeled and not unl:
        report.add(
            "split",
            f"{cfg.split!r} leaves no unlabeled images, but method {cfg.method!r} needs some "
            "(use method=supervised for 'full')",
        )
    for name, ids in (("labeled", lab), ("unlabeled", unl), ("validation", val)):
        dup = _duplicates(ids)
        if dup:
            report.add(f"{name} ids", f"{len(dup)} id(s) listed twice, e.g. {dup[:5]}; expected each once")
    both = sorted(set(lab) & set(unl))
    if both:
        report.add("split", f"{len(both)} id(s) are both labeled and unlabeled, e.g. {both[:5]}")

    present: dict[str, list[str]] = {}
    for group, ids, with_mask in (("labeled", lab, True), ("validation", val, True), ("unlabeled", unl, False)):
        ok = []
        for sid in dict.fromkeys(ids):
            missing = [
                k for k in (("image", "mask") if with_mask else ("image",)) if not _path(data.folder, k, sid).is_file()
            ]
            for kind in missing:
                report.add(_path(data.folder, kind, sid), f"{kind} does not exist (id {sid!r}, {group})")
            if not missing:
                ok.append(sid)
        report.checked[f"{group} ids"] += len(ids)
        present[group] = ok

    budget = None if max_open is None else max(max_open, 0)
    # unlabeled ids with masks (folder: the unlabeled share of its training list, which another split labels): check them
    unlabeled_masks = dataset_info(cfg.dataset).unlabeled_masks
    for i, (group, with_mask) in enumerate((("labeled", True), ("validation", True), ("unlabeled", False))):
        ids = present[group]
        take = ids if budget is None else _spread(ids, budget // (3 - i))
        for sid in take:
            _check_sample(
                data, sid, group, with_mask or (unlabeled_masks and _path(data.folder, "mask", sid).is_file()), report
            )
        if budget is not None:
            budget -= len(take)
    return report


# --------------------------------------------------------------------------- all of it
def _prepare(cfg: Config, report: Report | None = None) -> DataBundle:
    """``prepare_data``; where the dataset's reader can go on past layout problems (``folder``), they
    go to ``report`` (every one, each naming its file) and the data is built from the usable files,
    so the samples are checked too."""
    found: list[tuple[str, str]] = []
    try:
        return dataset_info(cfg.dataset).prepare(cfg, problems=found)
    finally:
        for where, what in found if report is not None else ():
            report.add(where, what)


def validate(cfg: Config, max_open: int | None = None) -> Report:
    """Check config, encoder, split and every sample of a dataset; returns every problem found.

    ``max_open``: decode at most that many samples (None: all of them).
    """
    report = Report()
    try:
        resolved = resolve(cfg)
    except ConfigError as e:
        report.add("config", str(e))
        resolved = cfg
    check_encoder(cfg.encoder, report)
    if cfg.dataset not in DATASET_INFO:
        return report  # resolve already said so; nothing to read
    before = len(report.problems)
    check_split_lists(cfg, report)
    list_found = len(report.problems) > before
    quiet = dataclasses.replace(resolved, progress=False)
    data, split_usable = None, True
    try:
        data = _prepare(quiet, report)
    except (DatasetError, SplitError, ConfigError, OSError) as e:
        if not (isinstance(e, SplitError) and list_found):  # else: already reported, line by line
            report.add("split" if isinstance(e, SplitError) else "data_root", str(e))
        if isinstance(e, SplitError):  # the split is bad, the data may be fine: check the whole pool
            split_usable = False
            try:
                data = _prepare(dataclasses.replace(quiet, split="full"))
            except (DatasetError, SplitError, ConfigError, OSError):
                data = None
    if data is not None:
        what = (
            f"{len(data.split.labeled)} labeled, {len(data.split.unlabeled)} unlabeled"
            if split_usable
            else f"unusable, so the whole pool of {len(data.split.labeled)} training ids was checked"
        )
        report.summary = (
            f"dataset {cfg.dataset} at {data.folder.root}, split {cfg.split!r}: {what}, "
            f"{len(data.val_ids)} validation ids"
        )
        check_data(resolved, data, max_open, report, check_split=split_usable)
    return report
