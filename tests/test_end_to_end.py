"""Each method trains a few iterations on the tiny built-in dataset: finite losses, loadable checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mkdlib import load_method, make_config, resolve, train
from mkdlib.config import ConfigError
from mkdlib.data import prepare_data
from mkdlib.methods import build_method
from mkdlib.results import is_done, load_result, load_results


@pytest.mark.parametrize("method", ["supervised", "mean_teacher", "cps", "mkd"])
def test_method_trains_and_checkpoint_loads(tiny_config, method):
    cfg = tiny_config(method=method)
    res = train(cfg)
    assert 0.0 <= res.miou <= 1.0
    losses = [m for m in res.metrics if "loss" in m]
    assert len(losses) == cfg.iters and all(math.isfinite(m["loss"]) for m in losses)
    if method == "mkd":
        assert all({"sup", "st", "ss"} <= set(m) for m in losses)
    for name in ("config.yaml", "env.json", "metrics.jsonl", "last.pt", "best.pt", "result.json"):
        assert (res.run_dir / name).exists(), name
    env = json.loads((res.run_dir / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"
    # the last checkpoint rebuilds the same networks
    loaded, loaded_cfg = load_method(res.run_dir, "last")
    ckpt = torch.load(res.run_dir / "last.pt", weights_only=False)
    assert ckpt["iteration"] == cfg.iters
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ckpt["method"][k]), k
    assert loaded_cfg.key() == resolve(cfg).key()
    # and the run is in the results store, keyed by its config
    assert is_done(resolve(cfg).key())
    assert load_results()["method"].tolist() == [method]


def test_finished_run_is_not_retrained(tiny_config):
    cfg = tiny_config(method="supervised")
    first = train(cfg)
    mtime = (first.run_dir / "last.pt").stat().st_mtime_ns
    again = train(cfg)
    assert again.miou == first.miou and (first.run_dir / "last.pt").stat().st_mtime_ns == mtime


def test_mkd_networks_and_switches(tiny_config):
    cfg = resolve(tiny_config(method="mkd"))
    data = prepare_data(cfg)
    m = build_method(cfg, data.num_classes)
    assert len(m.students) == 2 and len(m.teachers) == 2 and len(m.feature_stats) == 2
    s1, s2 = (dict(s.named_parameters()) for s in m.students)
    assert any(not torch.equal(s1[k], s2[k]) for k in s1)  # different initialisations
    cps = build_method(resolve(tiny_config(method="cps")), data.num_classes)
    assert len(cps.teachers) == 0 and len(cps.feature_stats) == 0


def test_mkd_with_only_co_training_equals_cps(tiny_config):
    """CPS is MKD's first Table 3 row: same students, same batch -> same loss (with CPS's loss
    average and head dropout, which ``mkd``'s preset takes from the release)."""
    data = prepare_data(resolve(tiny_config()))
    from mkdlib.trainer import Runtime, build_loaders

    cfg_cps = resolve(tiny_config(method="cps"))
    cps_settings = dict(pseudo_loss_norm=cfg_cps.pseudo_loss_norm, aspp_dropout=cfg_cps.aspp_dropout)
    cfg_mkd = resolve(
        tiny_config(
            method="mkd",
            mutual_mean_teacher=False,
            strong_aug=False,
            feature_aug=False,
            student_forward="joint",
            **cps_settings,
        )
    )
    lab, unl, _ = build_loaders(cfg_cps, data, Runtime(torch.device("cpu")), 0)
    batch = {**next(iter(lab)), **next(iter(unl))}
    a, b = build_method(cfg_cps, data.num_classes), build_method(cfg_mkd, data.num_classes)
    torch.manual_seed(0)
    la = a(batch, 0.5, torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    lb = b(batch, 0.5, torch.Generator().manual_seed(1))
    assert torch.allclose(la["loss"], lb["loss"]) and "st" not in lb


def test_teacher_receives_no_gradient_and_no_graph(tiny_config):
    cfg = resolve(tiny_config(method="mkd"))
    data = prepare_data(cfg)
    from mkdlib.trainer import Runtime, build_loaders

    lab, unl, _ = build_loaders(cfg, data, Runtime(torch.device("cpu")), 0)
    batch = {**next(iter(lab)), **next(iter(unl))}
    m = build_method(cfg, data.num_classes).train()
    out = m(batch, 0.5, torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert all(p.grad is None for t in m.teachers for p in t.parameters())
    assert all(p.grad is not None for p in m.students[0].parameters() if p.requires_grad)
    assert not m.teachers[0].training  # eval-mode BatchNorm by default


def test_contradictory_switches_are_rejected(tiny_config):
    with pytest.raises(ConfigError, match="own_teacher and mutual_mean_teacher"):
        resolve(tiny_config(method="mkd", own_teacher=True))
    with pytest.raises(ConfigError, match="unknown"):
        resolve(tiny_config(method="fixmatch"))


@pytest.mark.parametrize("method", ["mkd", "mean_teacher"])
def test_cutmix_off_leaves_the_strong_view_unmixed(tiny_config, method):
    """cutmix=False (strong_aug on): the students see the photometric strong view as it is."""
    from mkdlib.trainer import Runtime, build_loaders

    seen = {}
    for cutmix in (True, False):
        cfg = resolve(tiny_config(method=method, cutmix=cutmix))
        data = prepare_data(cfg)
        lab, unl, _ = build_loaders(cfg, data, Runtime(torch.device("cpu")), 0)
        batch = {**next(iter(lab)), **next(iter(unl))}
        m = build_method(cfg, data.num_classes).train()

        def record(_module, args, c=cutmix):  # the first student's inputs (one forward, or two)
            seen.setdefault(c, []).append(args[0].clone())

        m.students[0].register_forward_pre_hook(record)
        m(batch, 0.5, torch.Generator().manual_seed(0))
        unlabeled = torch.cat(seen[cutmix])[len(batch["image"]) :]
        assert torch.equal(unlabeled, batch["image_strong"]) is (not cutmix)


def test_cutmix_is_key_neutral_unless_it_changes_training(tiny_config):
    on, off = resolve(tiny_config(method="mkd")), resolve(tiny_config(method="mkd", cutmix=False))
    assert on.key() != off.key()
    # without strong augmentation there is no CutMix to turn off: one training, one key
    cps, cps_off = resolve(tiny_config(method="cps")), resolve(tiny_config(method="cps", cutmix=False))
    assert cps_off.cutmix and cps_off.key() == cps.key()


def test_committed_results_are_stored_under_their_configs_key():
    """Adding a Config field must not orphan the results store: each committed result's config
    still resolves to the key it is stored under."""
    from pathlib import Path

    store = Path(__file__).resolve().parents[1] / "results"
    found = sorted(store.glob("*/result.json"))
    if not found:
        pytest.skip("no committed results")
    for path in found:
        result = load_result(path.parent.name, store)
        assert make_config(result["config"]).key() == result["key"] == path.parent.name, path


def test_cps_targets_preset_and_key(tiny_config):
    """cps_cutmix takes L_ss targets from the weak view (CPS's code), MKD from the students' view
    (the released MKD code); without strong augmentation the two are one training, one key."""
    assert resolve(tiny_config(method="cps_cutmix")).cps_targets == "weak_view"
    assert resolve(tiny_config(method="mkd")).cps_targets == "student_view"
    plain = resolve(tiny_config(method="cps", cps_targets="weak_view"))
    assert plain.cps_targets == "student_view" and plain.key() == resolve(tiny_config(method="cps")).key()
    mixed = resolve(tiny_config(method="cps_cutmix", cps_targets="student_view"))
    assert mixed.key() != resolve(tiny_config(method="cps_cutmix")).key()
    with pytest.raises(ConfigError, match="cps_targets"):
        resolve(tiny_config(method="cps_cutmix", cps_targets="teacher"))


def test_cps_weak_view_targets_are_the_partners_unmixed_prediction(tiny_config):
    """cps_targets=weak_view: student j's argmax on the weak images (BatchNorm on the batch's
    statistics as CPS's code, dropout off, no graph), mixed with the students' CutMix mask,
    supervises student i != j."""
    from mkdlib.losses import cross_pseudo_loss_from_log_probs
    from mkdlib.trainer import Runtime, build_loaders

    cfg = resolve(tiny_config(method="cps_cutmix"))
    data = prepare_data(cfg)
    lab, unl, _ = build_loaders(cfg, data, Runtime(torch.device("cpu")), 0)
    batch = {**next(iter(lab)), **next(iter(unl))}
    m = build_method(cfg, data.num_classes).train()
    views = m.views(batch, torch.Generator().manual_seed(0))
    assert views.cut is not None and not torch.equal(views.student, views.weak)
    import copy

    from mkdlib.methods.base import batch_norm_mode

    before = copy.deepcopy(m.students)  # the target forward moves BatchNorm's running statistics
    targets = m.partner_weak_targets(views)
    assert all(s.training for s in m.students)  # train mode restored
    from mkdlib.data.transforms import mix

    with torch.no_grad():
        expected = []
        for s in before:
            batch_norm_mode(s, True)  # batch statistics, dropout off
            expected.append(mix(s(views.weak).logits, views.cut).argmax(1).masked_fill(views.ignore, 255))
    for got, want in zip(targets, expected):
        assert torch.equal(got, want)
    outs = m.student_outputs(views)
    logits = [o.logits for o in outs]
    terms = m.loss_terms(logits, m.own_labels(outs, views), [], views, targets)
    n_l = len(views.labeled)
    log_probs = [torch.log_softmax(a[n_l:], 1) for a in logits]
    assert torch.allclose(terms["ss"], cross_pseudo_loss_from_log_probs(log_probs, targets))
    # and not the partner's argmax on the mixed view the students see
    own = m.own_labels(outs, views)
    assert not all(torch.equal(a, b) for a, b in zip(own, targets))


def test_table3_rows_differ_only_by_their_switches():
    """Every row of the Table 3 analogue has the mkd preset's settings (forwards, FD, targets,
    teachers) and its own switches; the last row is the mkd preset itself."""
    from mkdlib.experiments import TABLE3_ROWS, grid

    rows = [c for c in grid("ablation") if c.seed == 0]
    mkd = resolve(make_config(rows[-1], co_training=None, mutual_mean_teacher=None, strong_aug=None, feature_aug=None))
    assert len(rows) == len(TABLE3_ROWS) and rows[-1].key() == mkd.key()
    settings = ("student_forward", "consistency_pixels", "teacher_bn_buffers", "gamma")
    for row, on in zip(rows, TABLE3_ROWS):
        assert row.co_training and all(getattr(row, k) == v for k, v in on.items())
        assert all(
            getattr(row, k) == getattr(mkd, k)
            for k in settings
            if k != "teacher_bn_buffers" or row.mutual_mean_teacher or row.own_teacher
        )
        assert row.fa_on_sup is (not row.feature_aug)  # FD never on L_sup where FD is on (Algorithm 1)
