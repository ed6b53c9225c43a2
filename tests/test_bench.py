"""The step-cost benchmark runs end to end in its tiny mode and writes a complete record.

No timing is asserted (speed targets belong to bench/ and docs/performance.md); the checks are
that every measurement the issue asks for is present and consistent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is a top-level package next to mkdlib/, run as python -m bench...
    sys.path.insert(0, str(REPO))

from bench import step_cost  # noqa: E402
from bench.plots import METHOD_LABELS, load_record, plot_cost_breakdown  # noqa: E402

PARTS = (
    "teacher_forward",
    "student_forward_backward",
    "ema_update",
    "feature_statistics",
    "feature_augmentation",
    "pseudo_labels",
    "cutmix",
    "optimizer_step",
    "data_augmentation",
)


@pytest.fixture(scope="module")
def record(tiny_data_root, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "rec.json"
    rc = step_cost.main(
        ["--tiny", "--threads", "1", "--quiet", "--set", f"data_root={tiny_data_root}", "--out", str(out)]
    )
    assert rc == 0
    return json.loads(out.read_text())


def test_record_times_every_method_interleaved_with_ratios(record):
    assert record["schema"] == step_cost.SCHEMA_VERSION and record["benchmark"] == "step_cost"
    assert record["machine"]["device"] == "cpu" and record["machine"]["torch_threads"] == 1
    assert record["settings"]["interleaved"] and record["settings"]["images_per_step"] == 4  # 2 + 2 (tiny)
    assert set(record["methods"]) == set(step_cost.METHODS)
    for name, m in record["methods"].items():
        assert len(m["times_s"]) == record["settings"]["steps"] == 2, name
        assert m["median_s"] > 0 and m["cpu_median_s"] > 0
        assert m["images_per_s"] == pytest.approx(4 / m["median_s"])
        assert m["peak_memory_bytes"] > 0 and m["memory_kind"] == "process_rss"
    meth, ratios = record["methods"], record["ratios"]
    assert ratios["mkd_over_cps"] == pytest.approx(meth["mkd"]["median_s"] / meth["cps"]["median_s"])
    assert ratios["mkd_over_supervised"] == pytest.approx(meth["mkd"]["median_s"] / meth["supervised"]["median_s"])
    assert ratios["cpu_mkd_over_cps"] == pytest.approx(meth["mkd"]["cpu_median_s"] / meth["cps"]["cpu_median_s"])
    # autograd memory: two students on labeled+unlabeled keep more for backward than one on labeled
    assert 0 < meth["supervised"]["autograd_saved_bytes"] < meth["cps"]["autograd_saved_bytes"]
    # counted FLOPs: CPS is two students on 2x the images; MKD adds the teachers' forwards to CPS
    flops = {k: m["flops_per_step"] for k, m in meth.items()}
    assert 0 < flops["supervised"] < flops["cps"] < flops["mkd"]
    assert flops["mean_teacher"] < flops["cps"]
    for m in meth.values():
        assert m["achieved_tflops"] == pytest.approx(m["flops_per_step"] / m["median_s"] / 1e12)
        assert m["fraction_of_bf16_peak"] is None  # a CPU has no entry in the peak table
    assert record["machine"]["bf16_peak_tflops"] is None and "no bf16 peak" in record["machine"]["bf16_peak_source"]


def test_bf16_peak_is_looked_up_by_device_name_with_a_fallback():
    assert step_cost.bf16_peak_tflops("NVIDIA H200") == (989.0, "datasheet, dense bf16 (H200)")
    assert step_cost.bf16_peak_tflops("NVIDIA H200 NVL")[0] == 835.0  # the specific name before "H200"
    assert step_cost.bf16_peak_tflops("NVIDIA H100 80GB HBM3")[0] == 989.0
    assert step_cost.bf16_peak_tflops("NVIDIA H100 PCIe")[0] == 756.0
    assert step_cost.bf16_peak_tflops("NVIDIA A100-SXM4-80GB")[0] == 312.0
    peak, why = step_cost.bf16_peak_tflops("Some Future GPU")
    assert peak is None and "--peak-tflops" in why
    assert step_cost.bf16_peak_tflops("Some Future GPU", override=500.0) == (500.0, "--peak-tflops")


def test_record_has_mkd_parts_and_teachers_keep_no_graph(record):
    assert set(record["parts"]) == set(PARTS)
    assert all(p["median_s"] > 0 for p in record["parts"].values())
    s = record["parts_summary"]
    in_step = sum(record["parts"][k]["median_s"] for k in PARTS if k != "data_augmentation")
    assert s["sum_of_parts_in_step_s"] == pytest.approx(in_step)
    assert s["unaccounted_s"] == pytest.approx(s["mkd_step_s"] - in_step)
    assert s["arithmetic_mkd_over_cps"] > 1
    assert record["teachers"] == {
        "outputs_require_grad": False,
        "outputs_are_inference_tensors": True,
        "autograd_saved_bytes": 0,
    }


def test_record_has_data_pipeline_and_eval_throughput(record):
    d = record["data"]
    assert [p["num_workers"] for p in d["loaders"]] == [0]  # the config's default
    assert d["loaders"][0]["images_per_s"] > 0
    assert d["loader_over_consumption"] == pytest.approx(
        d["loaders"][0]["images_per_s"] / d["mkd_step_consumes_images_per_s"]
    )
    assert [e["mode"] for e in record["eval"]] == ["whole", "sliding"]
    assert all(e["images_per_s"] > 0 and e["images"] == 4 for e in record["eval"])


def test_cost_breakdown_figure_splits_the_mkd_bar_into_parts(record, tmp_path):
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(record))
    fig = plot_cost_breakdown(path, clock="cpu")
    ax = fig.axes[0]
    n_parts = len(PARTS) - 1  # data augmentation is outside the step
    plain = [m for m in METHOD_LABELS if m in record["methods"] and m != "mkd"]
    assert len(ax.patches) == len(plain) + n_parts + 1  # one bar per other method, MKD's parts, "other"
    mkd_heights = sum(p.get_height() for p in ax.patches[len(plain) :])
    expected = (
        max(
            record["methods"]["mkd"]["cpu_median_s"],
            sum(record["parts"][k]["cpu_median_s"] for k in PARTS if k != "data_augmentation"),
        )
        * 1e3
    )
    assert mkd_heights == pytest.approx(expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == [METHOD_LABELS[m] for m in plain] + ["MKD"]


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert step_cost.main(["--set", "crop_sise=64", "--out", str(tmp_path / "x.json")]) == 2
    assert "crop_sise" in capsys.readouterr().err
    assert step_cost.main(["--methods", "fixmatch", "--tiny", "--out", str(tmp_path / "x.json")]) == 2
    assert "fixmatch" in capsys.readouterr().err
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "something else"}))
    with pytest.raises(ValueError, match="not a bench.step_cost record"):
        load_record(tmp_path / "other.json")


# ------------------------------------------------------------------ the fast paths keep the maths
def test_ema_fast_path_is_bit_identical_to_averaged_model():
    import copy

    import torch

    from mkdlib.ema import ema_update, make_teacher

    torch.manual_seed(0)
    student = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1))
    fast = make_teacher(student, gamma=0.6, warmup=True)
    reference = copy.deepcopy(fast)
    for _ in range(4):
        student(torch.randn(2, 3, 8, 8))  # moves BatchNorm buffers (floats) and its counter (int)
        with torch.no_grad():
            for p in student.parameters():
                p.add_(torch.randn_like(p))
        ema_update(fast, student)
        reference.update_parameters(student)  # torch's generic path
    a, b = fast.state_dict(), reference.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert int(fast.n_averaged) == 4


def test_feature_statistics_ignore_autocast_and_bad_labels():
    import torch

    from mkdlib.feature_aug import ClassFeatureStats

    torch.manual_seed(0)
    f, y = torch.randn(2, 8, 4, 4) * 100 + 1000, torch.randint(0, 3, (2, 8, 8))
    plain, cast = ClassFeatureStats(3, 8), ClassFeatureStats(3, 8)
    plain.update(f, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the trainer's step runs under autocast
        cast.update(f, y)
    assert torch.equal(plain.mean, cast.mean) and torch.equal(plain.m2, cast.m2)
    y[0, 0, 0] = 7  # neither a class id nor 255
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\) or 255"):
        plain.update(f, y)


def test_pseudo_label_without_threshold_is_the_softmax_argmax():
    import torch

    from mkdlib.losses import pseudo_label

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6, 6)
    ignore = torch.rand(2, 6, 6) < 0.3
    expected = logits.softmax(1).argmax(1).masked_fill(ignore, 255)
    assert torch.equal(pseudo_label(logits, ignore=ignore), expected)
