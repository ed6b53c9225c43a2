"""Finished runs, after training: rebuild a trained method from its folder, evaluate it again,
sample its predictions, and publish it to the results store (mkdlib.results) again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .checkpoint import TrainingError, load_checkpoint
from .config import Config, make_config, resolve
from .data import DataBundle, EvalDataset, dataset_info, prepare_data
from .evaluate import evaluate, predict_logits
from .methods import Method, build_method
from .registry import with_legacy_settings
from .runtime import Runtime, setup_runtime


def nonfinite_tensors(state, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors holding NaN or inf in a (nested) state dict: a model's
    weights and buffers, an optimiser's state. One device synchronisation per device."""
    named: dict[torch.device, list[tuple[str, torch.Tensor]]] = {}

    def walk(obj, name: str) -> None:
        if isinstance(obj, torch.Tensor):
            if obj.is_floating_point() or obj.is_complex():
                named.setdefault(obj.device, []).append((name, obj))
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{name}.{k}" if name else str(k))
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{name}.{i}" if name else str(i))

    walk(state, prefix)
    bad = []
    for items in named.values():
        finite = torch.stack([torch.isfinite(t).all() for _, t in items]).tolist()
        bad += [n for (n, _), ok in zip(items, finite) if not ok]
    return bad


def method_from_checkpoint(ckpt: dict, source: str | Path = "checkpoint") -> tuple[Method, Config]:
    """Rebuild the trained method of a loaded checkpoint (on CPU, in eval mode) and its Config.

    The encoder is built without its pretrained weights (the checkpoint holds every weight), so
    neither a download nor the original weights file is needed.
    """
    if not (isinstance(ckpt, dict) and isinstance(ckpt.get("method"), dict) and isinstance(ckpt.get("config"), dict)):
        raise TrainingError(
            f"{source} is not an mkdlib checkpoint: expected the 'method' and 'config' entries "
            "that training writes to best.pt / last.pt"
        )
    bad = nonfinite_tensors(ckpt["method"])
    if bad:
        raise TrainingError(
            f"{source} holds NaN or infinite values in {len(bad)} tensor(s) (e.g. {', '.join(bad[:3])}): "
            "it was saved from a diverged run and would predict nonsense; use another checkpoint "
            "(e.g. --which best) or train again with a lower lr"
        )
    cfg = resolve(make_config(with_legacy_settings(ckpt["config"])))
    heads = [k for k in ckpt["method"] if k.endswith("classifier.weight")]
    if not heads:
        raise TrainingError(f"{source}: its 'method' state has no classifier weights; not a checkpoint of mkdlib.train")
    num_classes = ckpt["method"][heads[0]].shape[0]
    method = build_method(cfg, num_classes)  # no encoder_weights: the checkpoint holds every weight
    compact = ckpt.get("compact")  # export_compact: one network's weights, in half precision
    state = ckpt["method"]
    if compact:
        own = method.state_dict()
        state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    try:
        missing, unexpected = method.load_state_dict(state, strict=not compact)
        if compact and (unexpected or any(k.startswith(compact["prefix"]) for k in missing)):
            raise RuntimeError(f"compact checkpoint keys do not match: {unexpected[:3] or missing[:3]}")
    except RuntimeError as e:
        raise TrainingError(
            f"{source} does not fit the model its config describes "
            f"({' '.join(str(e).split())[:300]}); was it written by another mkdlib version?"
        ) from None
    method.class_names = tuple(ckpt["class_names"]) if ckpt.get("class_names") else None
    if compact:  # only this network was kept: it is the one evaluated and predicted with
        cfg = dataclasses.replace(cfg, eval_model=compact["model"])
    return method.eval(), cfg


#: the compact checkpoint a stored run may keep beside its results (``results/<key>/``)
COMPACT_NAME = "student1-fp16.pt"


def stored_checkpoint(key: str, root: str | Path | None = None) -> Path | None:
    """The compact checkpoint kept in the results store for run ``key`` (None: weights not kept)."""
    from .results import results_dir

    path = Path(root or results_dir()) / key / COMPACT_NAME
    return path if path.is_file() else None


#: where ``model`` lives in a method's state dict
MODEL_PREFIXES = {"student1": "students.0.", "student2": "students.1.", "teacher1": "teachers.0.module."}


def export_compact(checkpoint: str | Path, out: str | Path, model: str = "student1", which: str = "best") -> Path:
    """A small checkpoint of one network of a run (``model``), weights in float16: enough to
    predict (``python -m mkdlib predict``, :func:`mkdlib.predict.predict_folder`), small enough to
    commit. Batch counters and other integer buffers are kept as they are."""
    if model not in MODEL_PREFIXES:
        raise TrainingError(f"model {model!r} is not one of {', '.join(MODEL_PREFIXES)}")
    path = Path(checkpoint)
    path = path if path.is_file() else path / f"{which}.pt"
    if not path.is_file():
        raise TrainingError(f"{path} does not exist: expected a run folder with {which}.pt, or a .pt file")
    ckpt = load_checkpoint(path)
    if not (isinstance(ckpt, dict) and isinstance(ckpt.get("method"), dict)):
        raise TrainingError(f"{path} is not an mkdlib checkpoint: expected the 'method' entry training writes")
    prefix = MODEL_PREFIXES[model]
    full = {k: v for k, v in ckpt["method"].items() if k.startswith(prefix)}
    if not full:
        raise TrainingError(f"{path} has no {model} (no weights under {prefix!r})")
    bad = nonfinite_tensors(full)
    if bad:  # a compact copy of a diverged network would predict nonsense wherever it is shared
        raise TrainingError(
            f"{path} holds NaN or infinite values in {len(bad)} tensor(s) of {model} (e.g. {', '.join(bad[:3])}): "
            "it was saved from a diverged run; nothing was written. Export another checkpoint (--which) or train again"
        )
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in full.items()}
    bad = nonfinite_tensors(state)
    if bad:
        raise TrainingError(
            f"{path}: {len(bad)} tensor(s) of {model} hold values beyond float16's range (e.g. {', '.join(bad[:3])}); "
            "nothing was written"
        )
    small = {
        "config": ckpt["config"],
        "class_names": ckpt.get("class_names"),
        "iteration": ckpt.get("iteration"),
        "best_miou": ckpt.get("best_miou"),
        "method": state,
        "compact": {"model": model, "prefix": prefix, "source": path.name},
    }
    from .io import atomic_torch_save

    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(small, out)
    except OSError as e:
        raise TrainingError(f"could not write {out}: {e.strerror or e}; nothing is half-written") from None
    return out


def load_method(run_dir: str | Path, which: str = "best") -> tuple[Method, Config]:
    """Rebuild a trained method from a run folder's ``best.pt`` or ``last.pt``, or from a ``.pt``
    file (on CPU)."""
    path = Path(run_dir)
    path = path if path.is_file() else path / f"{which}.pt"
    return method_from_checkpoint(load_checkpoint(path), path)


def val_loader(cfg: Config, data: DataBundle, rt: Runtime | None = None, ids: list[str] | None = None) -> DataLoader:
    """Validation images (this rank's shard), in batches of the dataset's ``val_batch_size``: one at a
    time unless they all have one size. ``ids``: other images scored the same way (the test set)."""
    rank, world = (rt.rank, rt.world_size) if rt else (0, 1)
    ids = data.val_ids if ids is None else ids
    val = EvalDataset(data.folder, ids[rank::world], num_classes=data.num_classes)
    return DataLoader(val, batch_size=dataset_info(cfg.dataset).val_batch_size, num_workers=cfg.num_workers)


@torch.no_grad()
def sample_predictions(model, data: DataBundle, rt: Runtime, limit: int = 128) -> dict:
    """Validation predictions (uint8 class maps) of up to ``limit`` images, for qualitative figures."""
    model.eval()
    ids = data.val_ids[:limit]
    ds = EvalDataset(data.folder, ids)
    preds = [
        predict_logits(model, ds[i]["image"][None].to(rt.device), data.num_classes)[0]
        .argmax(0)
        .to(torch.uint8)
        .cpu()
        .numpy()
        for i in range(len(ds))
    ]
    if len({p.shape for p in preds}) == 1:
        return {"ids": np.array(ids), "pred": np.stack(preds)}
    return {"ids": np.array(ids), **{f"pred_{i}": p for i, p in zip(ids, preds)}}


def _reload(run_dir: str | Path, which: str):
    method, cfg = load_method(run_dir, which)
    cfg.progress = False
    rt = setup_runtime(cfg)
    return method.to(rt.device), cfg, rt, prepare_data(cfg)


def evaluate_run(run_dir: str | Path, which: str = "best") -> dict:
    """Evaluate a run folder's checkpoint single-process (what the distributed run reported)."""
    method, cfg, rt, data = _reload(run_dir, which)
    ev = evaluate(method.eval_model(), val_loader(cfg, data), data.num_classes, rt.device, cfg.eval_mode, cfg.eval_crop)
    return {"miou": ev["miou"], "per_class_iou": ev["per_class_iou"]}


def republish(run_dir: str | Path) -> Path:
    """Publish a finished run folder to the results store again (e.g. after the store was cleared),
    recomputing its prediction sample from ``last.pt``."""
    from .results import publish

    method, cfg, rt, data = _reload(run_dir, "last")
    return publish(run_dir, sample_predictions(method.eval_model(), data, rt))
