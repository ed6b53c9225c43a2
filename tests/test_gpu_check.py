"""The GPU check's CPU dry run, end to end: torchrun (gloo, the DDP path at world size 1), a run
SIGKILLed and resumed, the finite-loss and resume checks, bench.step_cost, the record and its summary.

No timing is asserted. The comparison logic is also checked on made-up runs, so that a resume that
went wrong, a NaN loss or a CUDA-sized drift is judged as it should be.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import gpu_check  # noqa: E402


@pytest.fixture(scope="module")
def dry(tmp_path_factory) -> tuple[dict, Path]:
    before = sorted(p.name for p in gpu_check.RESULTS_DIR.iterdir())
    out = tmp_path_factory.mktemp("gpu_check")
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    assert sorted(p.name for p in gpu_check.RESULTS_DIR.iterdir()) == before  # nothing written to bench/results
    (path,) = list(out.glob("gpu_check-dry-run-*.json"))
    return json.loads(path.read_text()), path


def test_dry_run_record_has_every_part_and_passes(dry):
    rec, path = dry
    assert rec["schema"] == gpu_check.SCHEMA_VERSION and rec["benchmark"] == "gpu_check" and rec["mode"] == "dry-run"
    assert rec["ok"] is True and rec["failed"] is False
    assert {n: p["status"] for n, p in rec["parts"].items()} == {
        "environment": "ok",
        "data": "ok",
        "training": "ok",
        "step_cost": "ok",
        "step_cost_compile": "skipped",
    }
    assert "dry run" in rec["parts"]["step_cost_compile"]["note"]
    env = rec["environment"]
    assert env["device"] == "cpu" and env["torch"] == torch.__version__ and env["bf16_peak_tflops"] is None
    assert all(p["wall_s"] <= p["limit_s"] + 5 for p in rec["parts"].values() if "limit_s" in p)
    text = path.with_suffix(".txt").read_text()
    assert "result: PASS" in text and "resume from iteration" in text and "bitwise" in text
    assert path.name in (path.parent / gpu_check.INDEX_NAME).read_text()
    assert "reference.log" in path.with_name(path.stem + "-logs.txt").read_text()


def test_dry_run_trains_through_the_ddp_path_kills_and_resumes_bitwise(dry):
    rec, _ = dry
    t = rec["training"]
    iters, ckpt = t["config"]["iters"], t["config"]["checkpoint_interval"]
    assert t["backend"] == "gloo" and t["launch"].startswith("torchrun --standalone --nproc_per_node 1")
    ref = t["reference"]
    assert ref["exit"] == 0 and ref["logged_iterations"] == iters and ref["nonfinite_skipped"] == 0
    assert ref["env"]["ddp"] is True and ref["env"]["world_size"] == 1  # MKD_FORCE_DDP: process group + DDP
    killed = t["killed"]
    assert killed["signal"] == "SIGKILL" and killed["processes_killed"] >= 2 and killed["survivors"] == []
    assert t["killed_at_logged_iteration"] >= t["kill_after_logged_iteration"]
    resumed_from = t["resumed_from_iteration"]
    assert resumed_from % ckpt == 0 and 0 < resumed_from < iters  # from a checkpoint, with work left
    assert t["resumed"]["exit"] == 0 and t["resumed"]["logged_iterations"] == iters
    assert t["finite"] == {"ok": True, "loss_lines_checked": 2 * iters, "nonfinite": [], "skipped_steps": 0}
    c = t["resume_check"]
    assert c["verdict"] == "bitwise" and c["ok"] and c["bitwise_equal"] and c["curves_equal"]
    assert c["tensors_equal"] == c["tensors"] > 100 and c["weights_max_abs_diff"] == 0
    assert c["final_miou_reference"] == c["final_miou_resumed"]
    assert c["logged_iterations_compared"] == iters


def test_dry_run_step_cost_summary(dry):
    rec, _ = dry
    s = rec["step_cost"]["summary"]
    assert set(s["methods"]) == {"supervised", "mean_teacher", "cps", "mkd"}
    for m in s["methods"].values():
        assert m["step_ms"] > 0 and m["flops_per_step"] > 0 and m["images_per_s"] > 0
        assert m["achieved_tflops"] == pytest.approx(m["flops_per_step"] / (m["step_ms"] / 1e3) / 1e12)
        assert m["fraction_of_bf16_peak"] is None and m["memory_kind"] == "process_rss"
    assert s["mkd_over_cps"] == pytest.approx(s["methods"]["mkd"]["step_ms"] / s["methods"]["cps"]["step_ms"])
    assert s["config"]["amp"] == "off"  # bf16 is CUDA-only; the dry run runs the cuda-r50 preset on CPU
    assert rec["step_cost"]["record"]["preset"] == "cuda-r50"


# ------------------------------------------------------------------ the judging, on made-up runs
def fake_run(folder: Path, losses: dict[int, float], state: dict, miou: float = 0.5, skipped: int = 0) -> Path:
    folder.mkdir(parents=True)
    torch.save({"method": state}, folder / "last.pt")
    (folder / "metrics.jsonl").write_text(
        "".join(json.dumps({"iter": i, "loss": v, "wall_s": 0.1 * i}) + "\n" for i, v in sorted(losses.items()))
    )
    (folder / "result.json").write_text(json.dumps({"final": {"miou": miou}, "nonfinite_skipped": skipped}))
    return folder


def curve(drift: float = 0.0, jump_after: int | None = None, jump: float = 0.0) -> dict[int, float]:
    return {
        i: 2.0 - 0.01 * i + drift * i + (jump if jump_after is not None and i > jump_after else 0.0)
        for i in range(10, 210, 10)
    }


def test_resume_check_on_cuda_accepts_drift_and_flags_a_jump(tmp_path):
    w = {"w": torch.ones(3), "n": torch.tensor(3)}
    ref = fake_run(tmp_path / "ref", curve(), w)
    drift = fake_run(tmp_path / "drift", curve(drift=1e-4), {"w": torch.ones(3) + 1e-5, "n": torch.tensor(3)}, 0.49)
    c = gpu_check.resume_check(ref, drift, 100, "cuda")
    assert c["verdict"] == "within_nondeterminism" and c["ok"] and not c["bitwise_equal"]
    assert c["weights_max_abs_diff"] == pytest.approx(1e-5, rel=0.01) and c["tensors_equal"] == 1  # float32 1 + 1e-5
    assert c["final_miou_abs_diff"] == pytest.approx(0.01) and "atomic adds" in c["why_not_bitwise"]
    broken = fake_run(tmp_path / "broken", curve(drift=1e-4, jump_after=100, jump=0.3), w)  # e.g. a lost optimiser
    c = gpu_check.resume_check(ref, broken, 100, "cuda")
    assert c["verdict"] == "differs" and not c["ok"]
    assert c["loss_diff_first_logs_after_resume"] > 10 * c["loss_diff_last_logs_before_kill"]
    same = fake_run(tmp_path / "same", curve(), w)
    assert gpu_check.resume_check(ref, same, 100, "cuda")["verdict"] == "bitwise"
    assert gpu_check.resume_check(ref, drift, 100, "cpu")["verdict"] == "differs"  # CPU must be bitwise


def test_finite_check_catches_nan_losses_and_skipped_steps(tmp_path):
    w = {"w": torch.ones(2)}
    good = fake_run(tmp_path / "good", curve(), w)
    assert gpu_check.finite_check(good)["ok"]
    nan = fake_run(tmp_path / "nan", {**curve(), 50: math.nan}, w)
    result = gpu_check.finite_check(good, nan)
    assert not result["ok"] and result["nonfinite"] == ["nan: loss = nan at iteration 50"]
    skipped = fake_run(tmp_path / "skipped", curve(), w, skipped=2)
    assert gpu_check.finite_check(skipped) == {
        "ok": False,
        "loss_lines_checked": 20,
        "nonfinite": [],
        "skipped_steps": 2,
    }


def test_kill_point_is_past_a_checkpoint_with_work_left():
    assert gpu_check.gpu_plan().kill_after == 160  # checkpoint at 150 of 300, one log interval later
    assert gpu_check.gpu_plan(iters=200).kill_after == 110
    assert gpu_check.dry_plan().kill_after == 5  # checkpoint at 4 of 8


def test_index_says_plainly_when_no_record_exists(tmp_path):
    assert "No GPU check record exists yet" in gpu_check.index_markdown(tmp_path)
    committed = (gpu_check.RESULTS_DIR / gpu_check.INDEX_NAME).read_text()
    records = list(gpu_check.RESULTS_DIR.glob("gpu_check-*.json"))
    assert ("No GPU check record exists yet" in committed) == (not records)  # the committed index is current
    assert all(r.name in committed for r in records)


def test_a_dry_run_refuses_to_write_into_bench_results(capsys):
    assert gpu_check.main(["--dry-run", "--out", str(gpu_check.RESULTS_DIR)]) == 2
    assert "never writes into" in capsys.readouterr().err
    assert gpu_check.main(["--dry-run", "--skip", "trainig"]) == 2
    assert "trainig" in capsys.readouterr().err


def test_the_books_gpu_page_shows_the_committed_index(tmp_path):
    from booktools.build import GPU_RECORDS_INDEX, copy_gpu_records

    assert GPU_RECORDS_INDEX == gpu_check.RESULTS_DIR / gpu_check.INDEX_NAME
    assert copy_gpu_records(tmp_path).read_text() == GPU_RECORDS_INDEX.read_text()
    assert "```{include} gpu_checks.md" in (REPO / "book" / "reproduce-on-gpus.md").read_text()


def test_the_gpu_plan_is_valid_before_a_gpu_is_lent():
    """What the lease would run: the training config resolves and builds, the step_cost flags parse."""
    from bench import step_cost
    from mkdlib.config import make_config, resolve
    from mkdlib.methods import build_method

    plan = gpu_check.gpu_plan()
    cfg = resolve(make_config(gpu_check.BASE_CONFIG, **plan.train, data_root="/nonexistent"))
    assert (cfg.encoder, cfg.crop_size, cfg.batch_size, cfg.unlabeled_batch_size, cfg.amp, cfg.channels_last) == (
        "resnet50",
        512,
        8,
        8,
        "bf16",
        True,
    )
    assert cfg.encoder_weights is None and cfg.method == "mkd" and cfg.feature_aug and cfg.strong_aug
    method = build_method(cfg, 5)
    assert sum(p.numel() for p in method.students[0].parameters()) > 20e6  # a ResNet-50 DeepLabV3+
    for flags in (plan.step_cost, plan.step_cost_compile):
        args = step_cost.parser().parse_args(flags)
        assert args.preset == "cuda-r50"
    assert step_cost.parser().parse_args(plan.step_cost_compile).compile == "on"
    assert sum(plan.limits.values()) <= plan.budget + 60  # the parts fit the 8 minutes, roughly


def test_force_ddp_outside_torchrun_is_a_clear_error(monkeypatch):
    from mkdlib import ConfigError, make_config
    from mkdlib.trainer import setup_runtime

    monkeypatch.setenv("MKD_FORCE_DDP", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ConfigError, match="MKD_FORCE_DDP=1 needs a torchrun launch"):
        setup_runtime(make_config(device="cpu"))
    monkeypatch.delenv("MKD_FORCE_DDP")
    assert not setup_runtime(make_config(device="cpu")).distributed


def test_an_incomplete_record_still_summarises_and_indexes(dry, tmp_path):
    """A lease that ran out mid-training: the summary and the book's table say so instead of failing."""
    import copy

    rec = copy.deepcopy(dry[0])
    rec["parts"]["training"] = {"status": "over_budget", "wall_s": 240.0, "note": "over the 240 s limit"}
    for k in ("finite", "resume_check", "resumed"):
        rec["training"].pop(k)
    rec["training"]["reference"] = {"exit": -9, "logged_iterations": 120, "killed": "over the part's time limit"}
    rec["parts"]["step_cost"] = {"status": "skipped", "note": "budget: 5 s left, needs 30 s"}
    rec.pop("step_cost")
    rec["ok"] = rec["failed"] = False
    text = gpu_check.format_summary(rec)
    assert "over_budget" in text and "120 iterations" in text and text.endswith("result: INCOMPLETE")
    (tmp_path / "gpu_check-20990101T0000-x.json").write_text(json.dumps(rec))
    row = gpu_check.index_markdown(tmp_path).splitlines()[-1]
    assert "| - | - |" in row and "not passed" in row
