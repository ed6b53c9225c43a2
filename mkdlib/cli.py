"""Command line: the same runs as the notebooks.

    python -m mkdlib train --dataset synthetic --split 1/16 --method mkd --iters 500
    python -m mkdlib train --config configs/paper/t2_vocaug_cps_r50_1-16_mkd.yaml   (or under torchrun)
    python -m mkdlib eval runs/<key>
    python -m mkdlib validate --dataset voc --data-root /data/VOC2012 --split 1/16
    python -m mkdlib pretrain --encoder NAME (the stand-in for ImageNet weights of NAME, into the user's cache)
    python -m mkdlib validate --dataset folder --data-root my_data --split 1/8
    python -m mkdlib predict runs/<key> photos/ --out predictions   (or a .pt file; a glob 'photos/*.jpg')

Every Config field is a flag (``--feature-aug false``, ``--gamma 0.6``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from .config import Config, ConfigError, make_config, resolve


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per Config field, grouped by section, each with the field's own help text."""
    from .config import FIELD_SECTIONS, field_help
    from .registry import METHODS

    p.add_argument("--config", help="YAML file of Config fields; flags override it")
    docs = field_help()
    groups = {name: p.add_argument_group(f"{name} (Config fields)") for name in FIELD_SECTIONS}
    for f in fields(Config):
        section, text = docs.get(f.name, ("runtime", ""))
        if f.name == "method":
            text += f": {', '.join(METHODS)}"
        default = "the method's preset" if f.default is None and section == "method" else repr(f.default)
        groups.get(section, p).add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=None, help=f"{text} (default: {default})"
        )


def _config_from(args, check: bool = False) -> Config:
    """The Config of ``--config`` and the flags; ``check``: also resolve it now, so that a problem in a
    config file names that file (``validate`` reports them in its list instead)."""
    overrides = {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name) is not None}
    cfg = make_config(args.config, **overrides)
    if check and args.config:
        try:
            resolve(cfg)
        except ConfigError as e:
            flags = f" with {', '.join('--' + k.replace('_', '-') for k in overrides)}" if overrides else ""
            raise ConfigError(f"config file {args.config}{flags}: {e}") from None
    return cfg


def _stop_on_sigterm(command: str):
    """SIGTERM raises KeyboardInterrupt (one line, exit 130) instead of killing the process mid-write;
    returns what puts the previous handler back (``main`` may run inside another program)."""
    import signal
    import threading

    def stop(signum, frame):
        raise KeyboardInterrupt(
            f"stopped by signal {signum} during {command}; files are written atomically, so none is half-written"
        )

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, stop)
        return lambda: signal.signal(signal.SIGTERM, previous)
    return lambda: None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mkdlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train (resumes an interrupted run in the same run_dir)")
    _add_config_flags(p_train)
    p_train.add_argument("--force", action="store_true", help="retrain even if the run finished")
    p_eval = sub.add_parser("eval", help="evaluate a run folder's best (or last) checkpoint")
    p_eval.add_argument("run_dir")
    p_eval.add_argument("--which", default="best", choices=("best", "last"))
    p_val = sub.add_parser("validate", help="check a dataset + split, reporting every problem")
    _add_config_flags(p_val)
    p_pre = sub.add_parser(
        "pretrain",
        help="pretrain an encoder on the built-in source task (the stand-in for ImageNet weights; resumable)",
    )
    p_pre.add_argument("--encoder", default="tu-regnetx_002")
    p_pre.add_argument("--iters", type=int, default=None, help="default: mkdlib.pretrain.PRETRAIN['iters']")
    p_pre.add_argument("--threads", type=int, default=None)
    p_pre.add_argument(
        "--out",
        default=None,
        help="default: synthetic-source-<encoder>.pt in the user's cache ($MKD_CACHE_DIR, else ~/.cache/mkdlib/weights), "
        "where encoder_weights=synthetic-source finds it (the committed file of the default encoder comes first)",
    )
    p_pred = sub.add_parser("predict", help="masks, overlays and an index.html for new images")
    p_pred.add_argument("checkpoint", help="a run folder (its best.pt, else last.pt) or a .pt file")
    p_pred.add_argument("images", nargs="+", help="a folder of images, image files, or a glob ('photos/*.jpg')")
    p_pred.add_argument("--out", required=True, help="folder for <stem>_mask.png, <stem>_overlay.png, index.html")
    p_pred.add_argument(
        "--model",
        default=None,
        help="student1 | student2 | teacher1 | teacher2 (default: the network the run evaluated)",
    )
    p_pred.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint of a run folder")
    p_pred.add_argument(
        "--mode",
        default="auto",
        choices=("auto", "whole", "sliding"),
        help="auto: sliding window for images longer than --max-whole-side",
    )
    p_pred.add_argument(
        "--window", type=int, default=None, help="sliding window side (default: eval_crop, else max(crop_size, 512))"
    )
    p_pred.add_argument("--max-whole-side", type=int, default=1024)
    p_pred.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p_pred.add_argument("--no-progress", action="store_true")
    p_exp = sub.add_parser("export", help="one network of a run in float16: a small checkpoint to share or commit")
    p_exp.add_argument("checkpoint", help="a run folder (its best.pt) or a .pt file")
    p_exp.add_argument("out", help="the .pt file to write")
    p_exp.add_argument("--model", default="student1", help="student1 | student2 | teacher1 (default: student1)")
    p_exp.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint of a run folder")
    args = parser.parse_args(argv)
    # predict, export: SIGTERM unwinds too, so no temporary file is left behind (train saves first itself)
    restore = _stop_on_sigterm(args.command) if args.command in ("predict", "export") else (lambda: None)
    try:
        if args.command == "train":
            from .trainer import train

            res = train(_config_from(args, check=True), force=args.force)
            print(
                json.dumps(
                    {
                        "run_dir": str(res.run_dir),
                        "miou": res.miou,
                        "best_miou": res.best_miou,
                        "wall_time_s": round(res.wall_time_s, 1),
                    }
                )
            )
        elif args.command == "export":
            from .runs import export_compact

            out = export_compact(args.checkpoint, args.out, args.model, args.which)
            print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {args.model}, float16)")
        elif args.command == "eval":
            from .runs import evaluate_run

            print(json.dumps(evaluate_run(args.run_dir, args.which), indent=1))
        elif args.command == "pretrain":
            from .pretrain import pretrain, provenance_path

            out = pretrain(args.encoder, out=args.out, iters=args.iters, threads=args.threads)
            print(provenance_path(out).read_text())
        elif args.command == "validate":
            from .validate import validate

            report = validate(_config_from(args))
            print(report.render())
            return 0 if report.ok else 1
        elif args.command == "predict":
            from .predict import predict_folder

            res = predict_folder(
                args.checkpoint,
                args.images,
                args.out,
                model=args.model,
                which=args.which,
                mode=args.mode,
                window=args.window,
                max_whole_side=args.max_whole_side,
                device=args.device,
                progress=not args.no_progress,
            )
            for path, reason in res.failures:
                print(f"skipped {path}: {reason}", file=sys.stderr)
            print(
                f"{len(res.predictions)} image(s) predicted by {res.model}: masks and overlays in {res.out_dir}, "
                f"contact sheet {res.index}" + (f"; {len(res.failures)} skipped" if res.failures else "")
            )
            return 0 if res.ok else 1
    except (ConfigError, ValueError, RuntimeError, OSError) as e:
        # bad input, a full disk: one clear line (an OSError names its file), no traceback from deep inside torch
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C: training saved first and says so; elsewhere nothing is half-written
        print(
            str(e)
            or f"interrupted by Ctrl-C during {args.command}; files are written atomically, so none is "
            "half-written. Run the same command again (train resumes from its last checkpoint).",
            file=sys.stderr,
        )
        return 130
    finally:
        restore()
    return 0


if __name__ == "__main__":
    sys.exit(main())
