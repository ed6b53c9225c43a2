"""One flat, typed config for every run: data, model, method switches, optimisation, runtime.

Configs are YAML files of these fields (``configs/``), overridable from the command line and from
notebook parameters. A method name is a preset of the Table 3 switches; a switch given explicitly
wins over the preset. :func:`resolve` fills presets and checks the combination before any work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import typing
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from .data.registry import dataset_info, dataset_names, key_fields
from .data.splits import is_split_list, normalise_split, split_list_digest
from .io import DEFAULT_CONFIG, PACKAGE_DIR, cache_dir
from .models import ARCHITECTURE_FIELDS, ModelSpec
from .registry import (
    ADDED_SETTINGS,
    METHOD_INFO,
    METHOD_PRESETS,
    METHODS,
    PRESET_SETTINGS,
    RENAMED_FIELDS,
    SETTING_CHOICES,
    SWITCHES,
    preset_setting,
    run_name,
)

#: ``encoder_weights`` value of the built-in stand-in for ImageNet weights (mkdlib.pretrain)
SOURCE_WEIGHTS = "synthetic-source"
WEIGHTS_DIR = PACKAGE_DIR / "weights"


def committed_weights(encoder: str) -> Path:
    """Where the committed source-pretrained weights of ``encoder`` live, shipped with the package
    (they may not exist: the default encoder's do)."""
    return WEIGHTS_DIR / f"{SOURCE_WEIGHTS}-{encoder}.pt"


def cached_weights(encoder: str) -> Path:
    """Where ``python -m mkdlib pretrain`` writes the weights of ``encoder`` (the user's cache,
    :func:`mkdlib.io.cache_dir`; never the package)."""
    return cache_dir() / "weights" / f"{SOURCE_WEIGHTS}-{encoder}.pt"


def source_weights(encoder: str) -> Path:
    """The file ``synthetic-source`` names for ``encoder``: the committed one, else the user's cache
    (:func:`cached_weights`; it may not exist yet)."""
    committed = committed_weights(encoder)
    return committed if committed.is_file() else cached_weights(encoder)


def provenance_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def resolve_encoder_weights(cfg: Config) -> str | None:
    """What to build the students' encoders from: ``cfg.encoder_weights``, with ``synthetic-source``
    turned into the path of its weights file (committed for the default encoder, else the user's
    cache: :func:`source_weights`)."""
    if cfg.encoder_weights != SOURCE_WEIGHTS:
        return cfg.encoder_weights
    path = source_weights(cfg.encoder)
    if not path.is_file():
        raise ConfigError(
            f"encoder_weights {SOURCE_WEIGHTS!r}: no weights for encoder {cfg.encoder!r} at {path}; "
            f"make them once with `python -m mkdlib pretrain --encoder {cfg.encoder}` (CPU: about "
            "an hour), or use encoder_weights=none / imagenet / a file"
        )
    return str(path)


def source_weights_sha256(encoder: str) -> str | None:
    """SHA-256 recorded for the source weights of ``encoder`` (:func:`source_weights`; None: none made)."""
    prov = provenance_path(source_weights(encoder))
    return json.loads(prov.read_text())["sha256"] if prov.is_file() else None


#: the registered datasets' names (each is defined once, in mkdlib.data.registry)
DATASETS = dataset_names()

ALPHA_DEFAULT = 1.5


class ConfigError(ValueError):
    """A config value or combination that cannot run; the message names the field."""


@dataclass
class Config:
    # --- data
    dataset: str = "synthetic"  # synthetic | voc | vocaug | cityscapes | folder
    data_root: str | None = None  # default: $MKD_DATA_DIR/<dataset> or ./data/<dataset> (folder: required)
    split: str = "1/16"  # fraction, count, 'full', or a split list path
    split_source: str = "generated"  # generated | cps | u2pl | unimatch
    split_seed: int | None = 0  # seed of the generated split lists (None: the run's seed, its own labeled split)
    crop_size: int = 64  # training crop side (pixels)
    scale_range: tuple[float, float] = (0.5, 2.0)  # random rescale range of the weak augmentation
    eval_mode: str = "whole"  # whole | center_crop | sliding
    eval_crop: int | None = None  # window / crop size for center_crop and sliding
    test_images: int = 0  # built-in dataset: held-out test images the final model is scored on once (0: none)
    # --- model
    encoder: str = ModelSpec.encoder  # smp / timm encoder name (resnet50, tu-regnetx_002, ...)
    encoder_weights: str | None = None  # None | imagenet | synthetic-source | path to a local state dict
    output_stride: int = ModelSpec.output_stride  # 8 or 16 (DeepLabV3+)
    decoder_channels: int = ModelSpec.decoder_channels  # width of the decoder feature (FD acts on it)
    atrous_rates: tuple[int, ...] = ModelSpec.atrous_rates  # ASPP dilation rates
    aspp_dropout: float | None = None  # dropout after ASPP (None: the method's preset; 0.5, the release 0)
    # --- method (None = take the method's preset)
    method: str = "mkd"  # a preset of the switches and settings (mkdlib.registry)
    co_training: bool | None = None
    own_teacher: bool | None = None
    mutual_mean_teacher: bool | None = None
    strong_aug: bool | None = None
    feature_aug: bool | None = None
    cutmix: bool = True  # with strong_aug: CutMix the students' view (False: the photometric op only)
    alpha: float = ALPHA_DEFAULT  # weight of L_st (teacher -> student)
    beta: float = 1.0  # weight of L_ss (student <-> student, CPS)
    gamma: float | None = None  # EMA: weight of the old teacher in Eq. 1 (see mkdlib.ema; preset: 0.99, release 0.6)
    ema_warmup: bool = True  # released code: gamma_t = min(1 - 1/t, gamma)
    threshold: float = 0.0  # confidence threshold on teacher pseudo labels (0 = off)
    teacher_bn_train: bool | None = None  # teachers' BatchNorm on batch statistics (release: true)
    teacher_bn_buffers: str | None = None  # teachers' BN buffers: ema (averaged) | copy (student's) | own (release)
    teacher_dropout: bool | None = None  # with teacher_bn_train: dropout on in the teachers too (legacy runs only)
    fa_lambda: float = 1.5  # final lambda of Eq. 3 (cosine ramp from 0)
    fa_covariance: str = "diagonal"  # diagonal | full
    pseudo_from_augmented: bool | None = None  # L_ss targets from the partner's feature-augmented logits (Alg. 1 l.14)
    teacher_feature_aug: bool | None = None  # L_st targets from feature-augmented teacher logits (release)
    fa_on_sup: bool | None = None  # feature augmentation on L_sup's logits too (Algorithm 1, release: false)
    student_forward: str | None = None  # joint: labeled + unlabeled in one forward | separate (Alg. 1, release)
    consistency_pixels: str | None = None  # L_st, L_ss over: unlabeled (Eq. 2) | all: labeled + unlabeled (release)
    photometric_probs: str | None = None  # strong op: always applies | release: with its own probability
    cps_targets: str | None = None  # L_ss targets: student_view | weak_view (None: the method's preset; registry)
    cps_target_bn: str | None = None  # weak_view targets: partner's BatchNorm eval (legacy) | train (CPS's code)
    weak_photometric: bool | None = None  # release: photometric distortion on labeled images and the weak view
    pseudo_loss_norm: str | None = None  # all: mean over every pixel | labeled: over pixels with a pseudo label
    unsup_rampup: float | None = None  # share of training over which alpha and beta ramp up from 0 (sigmoid)
    # --- optimisation
    iters: int = 1200  # training iterations
    batch_size: int = 8  # labeled images per step (per process)
    unlabeled_batch_size: int = 8  # unlabeled images per step (per process)
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 3e-3  # peak learning rate
    encoder_lr_scale: float = 1.0  # encoder lr = lr * this (pretrained encoders: lower, as UniMatch)
    weight_decay: float = 1e-4  # optimiser weight decay
    momentum: float = 0.9  # SGD momentum
    schedule: str = "cosine"  # cosine (linear warmup + cosine) | poly (power 0.9)
    warmup_iters: int = 50  # linear warmup iterations (cosine schedule)
    poly_power: float = 0.9  # power of the poly schedule
    # --- runtime
    seed: int = 0  # initialisation and data order (runs with one seed are paired)
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | off | bf16 | fp16
    channels_last: bool = False  # channels-last memory format (faster on some GPUs)
    threads: int | None = None  # torch CPU threads (None: torch's default)
    num_workers: int = 0  # data-loader worker processes
    eval_interval: int = 200  # iterations between validations
    checkpoint_interval: int = 200  # iterations between checkpoints (last.pt)
    log_interval: int = 10  # iterations between metrics lines
    eval_model: str = "student1"  # student1 | teacher1
    max_nonfinite: int = 20  # consecutive skipped non-finite steps before the run stops
    validate_samples: int = 200  # samples the pre-training data check decodes (every id's files are checked)
    run_dir: str | None = None  # default: runs/<key>
    progress: bool = True  # progress bar

    # fields that do not change what is trained (left out of the run key)
    RUNTIME_ONLY: typing.ClassVar[tuple[str, ...]] = (
        "data_root",
        "device",
        "threads",
        "num_workers",
        "eval_interval",
        "checkpoint_interval",
        "log_interval",
        "run_dir",
        "progress",
        "max_nonfinite",
        "validate_samples",
    )

    # fields added after results were stored: left out of the key at these values, so every
    # earlier key (and the results store under it) stays valid
    KEY_NEUTRAL: typing.ClassVar[dict[str, typing.Any]] = {
        "cutmix": True,
        "test_images": 0,
        **{k: PRESET_SETTINGS[k] for k in ADDED_SETTINGS},
    }

    def model_spec(self, num_classes: int, encoder_weights: str | None = None) -> ModelSpec:
        """The network this config trains; ``encoder_weights`` is the resolved file (see
        :func:`resolve_encoder_weights`), None for a random initialisation."""
        arch = {f: tuple(v) if isinstance(v := getattr(self, f), list) else v for f in ARCHITECTURE_FIELDS}
        if arch["aspp_dropout"] is None:  # an unresolved config: the method's preset
            arch["aspp_dropout"] = preset_setting(self.method, "aspp_dropout")
        return ModelSpec(num_classes=num_classes, encoder_weights=encoder_weights, **arch)

    @property
    def labeled_split_seed(self) -> int:
        """The seed the labeled split is drawn with: ``split_seed``, or the run's seed when None."""
        return self.seed if self.split_seed is None else self.split_seed

    def switches(self) -> dict[str, bool]:
        return {k: bool(getattr(self, k)) for k in SWITCHES}

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    def key(self) -> str:
        """Short hash of everything that affects the result: the results store's key."""
        d = self.to_dict()
        if any(d[k] is None for k in (*SWITCHES, *PRESET_SETTINGS)):  # not resolved: key what it trains
            try:
                d = resolve(self).to_dict()
            except ConfigError:  # a config resolve refuses still gets a key: the presets filled in
                d.update({k: preset_setting(self.method, k) for k in PRESET_SETTINGS if d[k] is None})
        d = {
            k: v
            for k, v in d.items()
            if k not in self.RUNTIME_ONLY and not (k in self.KEY_NEUTRAL and v == self.KEY_NEUTRAL[k])
        }
        d.update(key_fields(self))  # the dataset's part (mkdlib.data.registry): generator version, data fingerprint
        if self.encoder_weights == SOURCE_WEIGHTS:  # the committed file's identity, not just its name
            d["encoder_weights_sha256"] = source_weights_sha256(self.encoder)
        split = normalise_split(self.split)  # ' 1/4 ' is '1/4'
        if is_split_list(split):  # a list file: what it holds, not where it is
            d["split"] = "list:" + split_list_digest(split)
            split = "list-" + d["split"][5:13]
        else:
            d["split"] = split
        digest = hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.dataset}-{self.run_name()}-{split.replace('/', '_')}-s{self.seed}-{digest}"

    def run_name(self) -> str:
        """What ran (mkdlib.registry.run_name): ``cps`` only for CPS's own switches."""
        return run_name(
            self.method,
            {
                k: bool(getattr(self, k))
                if getattr(self, k) is not None
                else METHOD_PRESETS.get(self.method, {}).get(k, False)
                for k in SWITCHES
            },
        )


#: the sections of Config (its "# --- name" comments), in order: the CLI's flag groups
FIELD_SECTIONS = ("data", "model", "method", "optimisation", "runtime")


def field_help() -> dict[str, tuple[str, str]]:
    """``{field: (section, one-line help)}`` from Config's own source: each field's trailing
    comment (the switches: their registry text), so the CLI, notebooks and docs say one thing."""
    import inspect
    import re

    from .registry import SWITCH_LIST

    switch_doc = {s.name: s.doc for s in SWITCH_LIST}
    out, section = {}, ""
    for line in inspect.getsource(Config).splitlines():
        if m := re.match(r"\s+# --- (\w+)", line):
            section = m.group(1)
        elif m := re.match(r"    (\w+): [^=]+=[^#]*(?:#\s*(.*))?$", line):
            if m.group(1) in {f.name for f in fields(Config)}:
                out[m.group(1)] = (section, (m.group(2) or switch_doc.get(m.group(1), "")).strip())
    return out


def _field_types() -> dict[str, typing.Any]:
    return typing.get_type_hints(Config)


def _coerce(name: str, value, hint):
    """Convert ``value`` to the field's type; a clear ConfigError otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
            return None
        raise ConfigError(f"{name}: may not be empty (expected {hint})")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        if isinstance(value, str) and value.lower() in ("none", "null", "") and type(None) in args:
            return None
        return _coerce(name, value, inner[0])
    if origin is tuple:
        if isinstance(value, str):
            value = [
                v
                for v in value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",")
                if v.strip()
            ]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list like {args}, got {value!r}")
        elem = args[0]
        return tuple(_coerce(name, v, elem) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(float(value)) if float(value).is_integer() else _bad(name, value, "an integer")
            except ValueError:
                pass
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if not math.isfinite(number):  # `lr: .nan` would reach torch, which names neither file nor field
            raise ConfigError(f"{name}: expected a finite number, got {value!r}")
        return number
    if hint is str:
        if isinstance(value, os.PathLike):  # data_root=Path(...) from a notebook
            return os.fspath(value)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{name}: expected text, got {value!r}")
    return value


def _bad(name, value, what):
    raise ConfigError(f"{name}: expected {what}, got {value!r}")


def make_config(base: Config | dict | str | Path | None = None, **overrides) -> Config:
    """Build a Config from a YAML path / dict / Config plus keyword overrides, type-checked."""
    values: dict = {}
    from_file: set = set()  # fields whose value comes from the YAML file: their errors name it
    if isinstance(base, (str, Path)):
        path = Path(base)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Windows editors) is no key
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:  # one line: the file, line and column, what the parser expected
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            what = " ".join(str(getattr(e, "problem", None) or e).split())
            context = " ".join(str(getattr(e, "context", None) or "").split())
            detail = f"{what} ({context})" if context else what
            raise ConfigError(
                f"config file {path}: YAML syntax error{where}: {detail}; expected field: value lines"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {path} cannot be read ({e}); expected a UTF-8 YAML file") from None
        if loaded is None:  # an empty file would silently mean every default (dataset synthetic)
            raise ConfigError(f"config file {path} is empty; expected field: value lines (e.g. `dataset: folder`)")
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping of field: value")
        odd = [k for k in loaded if not isinstance(k, str)]
        if odd:
            raise ConfigError(f"config file {path}: keys {odd[:5]} are not field names; expected field: value")
        from_file = {k for k in loaded if k not in overrides}
        values.update(loaded)
    elif isinstance(base, Config):
        values.update(base.to_dict())
    elif isinstance(base, dict):
        values.update(base)
    values.update({k: v for k, v in overrides.items()})
    for old, new in RENAMED_FIELDS.items():  # configs written before a rename
        if old in values:
            if new in values and values[new] != values[old]:
                raise ConfigError(f"{old!r} is the old name of {new!r}, and both are given with different values")
            values[new] = values.pop(old)
            if old in from_file:
                from_file.add(new)
    hints = _field_types()

    def named(fields) -> str:
        return f"config file {base}: " if from_file & set(fields) else ""

    unknown = sorted(set(values) - set(hints) - {"RUNTIME_ONLY"})
    if unknown:
        import difflib

        hint = {u: difflib.get_close_matches(u, hints, n=1) for u in unknown}
        sugg = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hint.items())
        raise ConfigError(f"{named(unknown)}unknown config field(s): {sugg}")
    coerced = {}
    for k, v in values.items():
        try:
            coerced[k] = _coerce(k, v, hints[k])
        except ConfigError as e:
            raise ConfigError(f"{named([k])}{e}") from None
    return Config(**coerced)


def resolve(cfg: Config) -> Config:
    """Fill method presets and check every value and combination; raises ConfigError."""
    if cfg.method not in METHODS:
        raise ConfigError(f"method {cfg.method!r} is unknown; choose one of {', '.join(METHODS)}")
    preset = METHOD_PRESETS[cfg.method]
    given = {k: getattr(cfg, k) for k in (*SWITCHES, *PRESET_SETTINGS)}
    from_preset = {**preset, **{k: preset_setting(cfg.method, k) for k in PRESET_SETTINGS}}
    cfg = dataclasses.replace(cfg, **{k: from_preset[k] if v is None else v for k, v in given.items()})
    cfg = dataclasses.replace(cfg, split=normalise_split(cfg.split))  # one spelling, one run
    for name, allowed in SETTING_CHOICES.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(cfg, name)!r}")
    s = cfg.switches()
    has_teacher = s["own_teacher"] or s["mutual_mean_teacher"]
    # a setting that cannot act takes its legacy value: one training, one key
    inert = {
        "cutmix": not s["strong_aug"],  # cutmix only acts with strong_aug
        "cps_targets": not (s["strong_aug"] and s["co_training"]),  # else the students' view is the weak one
        "fa_on_sup": not s["feature_aug"],
        "pseudo_from_augmented": not s["feature_aug"],  # no augmented logits: the plain argmax
        "teacher_feature_aug": not (s["feature_aug"] and has_teacher),
        "teacher_bn_buffers": not has_teacher,
        "photometric_probs": not s["strong_aug"],
        "student_forward": cfg.method == "supervised",
        "consistency_pixels": cfg.method == "supervised",
        "teacher_dropout": not (has_teacher and cfg.teacher_bn_train),  # eval-mode teachers: no dropout
        "cps_target_bn": not (s["strong_aug"] and s["co_training"] and cfg.cps_targets == "weak_view"),
    }
    legacy = {"cutmix": True, **PRESET_SETTINGS}
    cfg = dataclasses.replace(cfg, **{k: legacy[k] for k, off in inert.items() if off})
    if cfg.method == "mean_teacher" and cfg.consistency_pixels != "unlabeled":
        raise ConfigError(
            "consistency_pixels 'all' (L_st over labeled + unlabeled images, the MKD release) is "
            "implemented for the two-student methods; use method 'mkd' with own_teacher"
        )
    if s["own_teacher"] and s["mutual_mean_teacher"]:
        raise ConfigError(
            "own_teacher and mutual_mean_teacher are both on: a student is supervised either "
            "by its own teacher (own_teacher) or by the other branch's (mutual_mean_teacher)"
        )
    two_students = METHOD_INFO[cfg.method].students == 2
    if s["mutual_mean_teacher"] and not two_students:
        raise ConfigError(f"mutual_mean_teacher needs two branches: use method 'mkd' (got {cfg.method!r})")
    if cfg.method == "supervised" and any(s.values()):
        on = [k for k, v in s.items() if v]
        raise ConfigError(f"method 'supervised' uses no unlabeled data; switches {on} need method 'mkd'")
    if cfg.method == "mean_teacher" and (s["co_training"] or not s["own_teacher"]):
        raise ConfigError(
            "method 'mean_teacher' is one student with its own teacher; for co-training "
            "with teachers use method 'mkd' with the switches"
        )
    if two_students and not has_teacher and not s["co_training"]:
        raise ConfigError("method 'mkd' with every switch off trains nothing semi-supervised")
    if not has_teacher and cfg.alpha > 0 and cfg.alpha != ALPHA_DEFAULT:  # cps/supervised configs carry the default
        raise ConfigError(
            f"alpha={cfg.alpha} weights the teacher loss L_st, but no teacher is on; turn on "
            "mean_teacher or mutual_mean_teacher, or leave alpha at its default"
        )
    if cfg.alpha < 0 or cfg.beta < 0:
        raise ConfigError("alpha and beta are loss weights and must be >= 0")
    if not 0.0 <= cfg.gamma < 1.0:
        raise ConfigError(f"gamma must be in [0, 1), got {cfg.gamma} (the weight of the old teacher in Eq. 1)")
    if not 0.0 <= cfg.threshold < 1.0:
        raise ConfigError(f"threshold must be in [0, 1), got {cfg.threshold}")
    if not 0.0 <= cfg.unsup_rampup <= 1.0:
        raise ConfigError(f"unsup_rampup is a share of training in [0, 1], got {cfg.unsup_rampup}")
    if cfg.encoder_lr_scale <= 0:
        raise ConfigError(f"encoder_lr_scale must be > 0, got {cfg.encoder_lr_scale}")
    if cfg.fa_covariance not in ("diagonal", "full"):
        raise ConfigError(f"fa_covariance must be 'diagonal' or 'full', got {cfg.fa_covariance!r}")
    choices = {
        "optimizer": ("adamw", "sgd"),
        "schedule": ("cosine", "poly"),
        "eval_mode": ("whole", "center_crop", "sliding"),
        "amp": ("auto", "off", "bf16", "fp16"),
        "device": ("auto", "cpu", "cuda"),
        "eval_model": ("student1", "teacher1"),
        "split_source": ("generated", "cps", "u2pl", "unimatch"),
        "dataset": dataset_names(),
    }
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name} {getattr(cfg, name)!r} is not one of {', '.join(allowed)}")
    if cfg.eval_model == "teacher1" and not has_teacher:
        raise ConfigError("eval_model 'teacher1' needs a teacher (own_teacher or mutual_mean_teacher on)")
    for name in ("iters", "batch_size", "crop_size", "eval_interval", "checkpoint_interval", "log_interval"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name, low in (("num_workers", 0), ("warmup_iters", 0), ("validate_samples", 0), ("max_nonfinite", 1)):
        if getattr(cfg, name) < low:  # checked here, before --force clears anything, not by torch later
            raise ConfigError(f"{name} must be >= {low}, got {getattr(cfg, name)}")
    for name in ("threads", "eval_crop"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1 (or left out), got {getattr(cfg, name)}")
    if METHOD_INFO[cfg.method].uses_unlabeled and cfg.unlabeled_batch_size < 1:
        raise ConfigError("unlabeled_batch_size must be >= 1 for semi-supervised methods")
    if cfg.output_stride not in (8, 16):
        raise ConfigError(f"output_stride must be 8 or 16 for DeepLabV3+, got {cfg.output_stride}")
    if cfg.crop_size % cfg.output_stride:
        raise ConfigError(f"crop_size {cfg.crop_size} must be a multiple of output_stride {cfg.output_stride}")
    lo, hi = cfg.scale_range
    if not 0 < lo <= hi:
        raise ConfigError(f"scale_range must be (low, high) with 0 < low <= high, got {cfg.scale_range}")
    if cfg.lr <= 0:
        raise ConfigError(f"lr must be > 0, got {cfg.lr}")
    if not 0.0 <= cfg.aspp_dropout < 1.0:
        raise ConfigError(f"aspp_dropout must be in [0, 1), got {cfg.aspp_dropout}")
    if cfg.test_images < 0:
        raise ConfigError(f"test_images must be >= 0, got {cfg.test_images}")
    if cfg.test_images and not dataset_info(cfg.dataset).test_set:
        raise ConfigError(
            f"test_images={cfg.test_images}: a held-out test set is generated for the built-in dataset only; "
            f"dataset {cfg.dataset!r} has none (leave test_images at 0)"
        )
    return cfg


def base_config(**overrides) -> Config:
    """The CPU default on the built-in dataset (:data:`DEFAULT_CONFIG`, shipped with the package:
    ``mkdlib/configs/synthetic/mkd.yaml``) with overrides."""
    return make_config(DEFAULT_CONFIG, **overrides)


def save_config(cfg: Config, path: str | Path) -> None:
    from .io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
