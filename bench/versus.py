"""Before/after: time this checkout's CPS and MKD steps against another git revision's, in ONE process.

    python -m bench.versus ebe0ec2                # e.g. the commit before the step-cost work
    python -m bench.versus HEAD~3 --steps 10 --threads 2

The other revision's ``mkdlib`` is extracted with ``git archive`` into a temporary folder under
another package name (``mkdlib_before``) so both versions live side by side; both get the same
config fields, seeds and batches, and their steps are timed interleaved (wall and CPU medians), so
machine load hits both alike. Only the methods' code differs between the two columns.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import fields
from pathlib import Path

from bench.step_cost import (
    REPO,
    RESULTS_DIR,
    BenchError,
    Clock,
    MethodStep,
    _method_config,
    _ratio,
    batch_to_device,
    loader_batches,
    machine_record,
    time_interleaved,
)


def import_revision(rev: str, into: Path, name: str = "mkdlib_before"):
    """``mkdlib`` at git revision ``rev`` as package ``name`` (its imports are relative)."""
    try:
        tar = subprocess.run(["git", "archive", rev, "mkdlib"], cwd=REPO, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise BenchError(
            f"git archive {rev!r} failed: {e.stderr.decode().strip()}; give a commit of this repo"
        ) from None
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        try:
            t.extractall(into, filter="data")
        except TypeError:  # Python without extraction filters (< 3.11.4): git archive output is trusted
            t.extractall(into)
    (into / "mkdlib").rename(into / name)
    sys.path.insert(0, str(into))
    return importlib.import_module(name)


class _OldStep(MethodStep):
    """MethodStep whose method comes from the other revision's package."""

    def __init__(self, pkg, cfg, num_classes, rt):
        old_cfg_mod = importlib.import_module(pkg.__name__ + ".config")
        known = {f.name for f in fields(old_cfg_mod.Config)}
        d = {k: v for k, v in cfg.to_dict().items() if k in known}
        old_cfg = old_cfg_mod.resolve(old_cfg_mod.make_config(d))
        methods = importlib.import_module(pkg.__name__ + ".methods")
        import torch

        self.cfg, self.rt = old_cfg, rt
        torch.manual_seed(cfg.seed)
        self.method = methods.build_method(old_cfg, num_classes).to(rt.device).train()
        from contextlib import nullcontext

        from mkdlib.trainer import build_optimizer

        self.optimizer = build_optimizer(cfg, self.method.students)
        self.scaler = torch.amp.GradScaler("cuda", enabled=False)
        self.autocast = torch.autocast("cuda", dtype=rt.amp_dtype) if rt.amp_dtype is not None else nullcontext()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.versus", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("rev", help="git revision to compare against (e.g. a commit hash)")
    p.add_argument("--config", default=str(REPO / "configs" / "synthetic" / "mkd.yaml"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--methods", default="cps,mkd")
    p.add_argument("--out")
    args = p.parse_args(argv)
    import torch

    from mkdlib.config import make_config
    from mkdlib.data import prepare_data
    from mkdlib.io import atomic_write_json
    from mkdlib.trainer import setup_runtime

    try:
        base = make_config(args.config, threads=args.threads, progress=False, encoder_weights=None)
        cfg_mkd = _method_config(base, "mkd")
        rt = setup_runtime(cfg_mkd)
        data = prepare_data(cfg_mkd)
        batches = [batch_to_device(b, rt.device, False) for b in loader_batches(cfg_mkd, data, rt, 2)]
        with tempfile.TemporaryDirectory() as tmp:
            old = import_revision(args.rev, Path(tmp))
            steps = {}
            for name in args.methods.split(","):
                cfg = _method_config(base, name)
                steps[f"{name}@{args.rev}"] = _OldStep(old, cfg, data.num_classes, rt)
                steps[f"{name}@this"] = MethodStep(cfg, data.num_classes, rt, compiled=False)
            jobs = {k: (lambda r, s=s: s.step(batches[r % len(batches)], r)) for k, s in steps.items()}
            res = time_interleaved(jobs, Clock(rt.device), args.warmup, args.steps)
    except (BenchError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rec = {
        "benchmark": "versus",
        "schema": 1,
        "rev": args.rev,
        "machine": machine_record(rt),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m bench.versus " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {"steps": args.steps, "warmup": args.warmup, "threads": torch.get_num_threads()},
        "methods": res,
    }
    if "mkd@this" in res and "cps@this" in res:
        rec["ratios"] = {
            f"{field}:{tag}": _ratio(res[f"mkd@{tag}"][field], res[f"cps@{tag}"][field])
            for tag in ("this", args.rev)
            for field in ("median_s", "cpu_median_s")
        }
    out = (
        Path(args.out)
        if args.out
        else RESULTS_DIR / "versus" / f"versus-{args.rev.replace('/', '_')}-{rec['created'][:10]}.json"
    )
    atomic_write_json(out, rec)
    for k, v in res.items():
        print(f"{k:28s} wall {v['median_s'] * 1e3:8.1f} ms   cpu {v['cpu_median_s'] * 1e3:8.1f} ms")
    for k, v in rec.get("ratios", {}).items():
        print(f"MKD/CPS {k}: {v:.3f}")
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
