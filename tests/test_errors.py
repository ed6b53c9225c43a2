"""Bad input gets a clear error before training starts, naming the file or parameter at fault.

Each test breaks one thing in a private copy of the tiny built-in dataset (or the config) and checks
(1) ``validate`` reports it, every instance, naming the file, and (2) ``train`` refuses to start:
it raises before a single checkpoint or metrics line is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mkdlib import make_config
from mkdlib.config import ConfigError, resolve
from mkdlib.data import DatasetError, Split, SplitError, make_split
from mkdlib.data.palette import save_mask
from mkdlib.models import ModelError
from mkdlib.trainer import train
from mkdlib.validate import validate


@pytest.fixture
def data_copy(tiny_data_root, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may break."""
    root = tmp_path / "data"
    shutil.copytree(tiny_data_root, root, ignore=shutil.ignore_patterns("splits"))
    return root


def ids(root: Path, which: str) -> list[str]:
    return (root / "ImageSets" / "Segmentation" / f"{which}.txt").read_text().split()


def image_path(root: Path, sid: str) -> Path:
    return root / "JPEGImages" / f"{sid}.jpg"


def mask_path(root: Path, sid: str) -> Path:
    return root / "SegmentationClass" / f"{sid}.png"


def problems_about(report, path: Path) -> list[str]:
    return [p.what for p in report.problems if p.where == str(path)]


def assert_refused_before_training(cfg, error=DatasetError, match: str | None = None) -> str:
    """``train`` raises ``error`` and leaves no checkpoint or metrics behind."""
    with pytest.raises(error, match=match) as info:
        train(cfg)
    run_dir = Path(cfg.run_dir)
    assert not (run_dir / "last.pt").exists() and not (run_dir / "metrics.jsonl").exists()
    return str(info.value)


def test_clean_data_validates(data_copy, tiny_config):
    report = validate(tiny_config(data_root=str(data_copy)))
    assert report.ok, report.render()
    assert report.checked["images decoded"] == 64 and report.checked["masks decoded"] == 16 + 3
    assert "OK" in report.render()


def test_missing_files_are_all_reported(data_copy, tiny_config):
    val, pool = ids(data_copy, "val"), ids(data_copy, "train")
    gone = [image_path(data_copy, val[0]), mask_path(data_copy, val[1]), image_path(data_copy, pool[5])]
    for p in gone:
        p.unlink()
    cfg = tiny_config(data_root=str(data_copy))
    report = validate(cfg)
    for p in gone:
        assert any("does not exist" in w for w in problems_about(report, p)), report.render()
    assert len(report.problems) == 3, report.render()
    message = assert_refused_before_training(cfg)
    assert all(str(p) in message for p in gone)  # every problem in the one error, not just the first


def test_mask_values_outside_class_range(data_copy, tiny_config):
    val = ids(data_copy, "val")
    bad, ignore_only = mask_path(data_copy, val[2]), mask_path(data_copy, val[3])
    m = np.array(Image.open(bad))
    m[0, :3] = 7  # 5 classes: 7 is neither a class nor 255
    save_mask(m, bad)
    m = np.array(Image.open(ignore_only))
    m[:2] = 255  # ignore is allowed
    save_mask(m, ignore_only)
    cfg = tiny_config(data_root=str(data_copy))
    report = validate(cfg)
    assert [p.where for p in report.problems] == [str(bad)], report.render()
    assert "[7]" in report.problems[0].what and "0..4 or 255" in report.problems[0].what
    assert_refused_before_training(cfg, match="not class ids")


def test_bad_mask_outside_the_checked_sample_stops_training_by_name(data_copy, tiny_config, tmp_path):
    """``validate_samples=0`` decodes nothing before training: the loaders check each mask they read."""
    pool = ids(data_copy, "train")
    labeled = write_list(tmp_path / "labeled.txt", [pool[0]])
    bad = mask_path(data_copy, pool[0])
    m = np.array(Image.open(bad)).astype(np.uint16)
    m[0, :2] = 7  # 5 classes
    Image.fromarray(m).save(bad)  # a 16-bit mask (values fit 8 bits: read as they are)
    cfg = tiny_config(data_root=str(data_copy), split=str(labeled), method="supervised", validate_samples=0)
    message = assert_refused_before_training(cfg, match="not class ids")
    assert f"mask {bad} holds values [7]" in message and "0..4 or 255" in message
    val_bad = mask_path(data_copy, ids(data_copy, "val")[0])  # and in evaluation
    Image.fromarray(m).save(val_bad)
    shutil.copy(mask_path(data_copy, pool[1]), bad)
    with pytest.raises(DatasetError, match=f"mask {val_bad} holds values \\[7\\]"):
        train(tiny_config(data_root=str(data_copy), split=str(labeled), method="supervised", validate_samples=0))


def test_image_and_mask_sizes_differ(data_copy, tiny_config):
    sid = ids(data_copy, "val")[4]
    Image.open(image_path(data_copy, sid)).resize((40, 32)).save(image_path(data_copy, sid))
    cfg = tiny_config(data_root=str(data_copy))
    report = validate(cfg)
    (what,) = problems_about(report, mask_path(data_copy, sid))
    assert "32x32" in what and "40x32" in what
    assert_refused_before_training(cfg, match="same size")


def test_unreadable_and_truncated_images(data_copy, tiny_config):
    val = ids(data_copy, "val")
    truncated, garbage = image_path(data_copy, val[5]), image_path(data_copy, val[6])
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    garbage.write_bytes(b"this is not a JPEG")
    cfg = tiny_config(data_root=str(data_copy))
    report = validate(cfg)
    assert any("truncated" in w for w in problems_about(report, truncated)), report.render()
    assert any("cannot be read" in w for w in problems_about(report, garbage)), report.render()
    assert_refused_before_training(cfg, match="cannot be read")


def test_wrong_layout(data_copy, tiny_config):
    shutil.rmtree(data_copy / "ImageSets")
    cfg = tiny_config(data_root=str(data_copy))
    report = validate(cfg)
    assert not report.ok and "train.txt" in report.render()
    assert_refused_before_training(cfg, match="train.txt")


def test_missing_root_of_a_real_dataset(tmp_path, tiny_config):
    pytest.importorskip("mkdlib.data.real")
    root = tmp_path / "no-such-voc"
    cfg = tiny_config(dataset="voc", data_root=str(root), split="92")
    report = validate(cfg)
    assert not report.ok and str(root) in report.render()
    with pytest.raises((DatasetError, ConfigError)) as info:
        train(cfg)
    assert str(root) in str(info.value)


# --------------------------------------------------------------------------- split lists
def write_list(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_split_list_problems_all_reported(data_copy, tiny_config, tmp_path):
    pool = ids(data_copy, "train")
    lst = write_list(tmp_path / "lists" / "labeled.txt", [pool[0], pool[1], pool[0], pool[2], pool[1], "no_such_id"])
    write_list(tmp_path / "lists" / "unlabeled.txt", [pool[2], pool[3]])
    report = validate(tiny_config(data_root=str(data_copy), split=str(lst)))
    text = report.render()
    assert f"{lst}:3" in text and f"{lst}:5" in text  # each repeat, with its line
    assert "also listed as unlabeled" in text and pool[2] in text
    with pytest.raises(SplitError, match="repeats"):
        train(tiny_config(data_root=str(data_copy), split=str(lst)))


def test_split_list_with_unknown_id(data_copy, tiny_config, tmp_path):
    pool = ids(data_copy, "train")
    lst = write_list(tmp_path / "labeled.txt", [pool[0], "no_such_id"])
    cfg = tiny_config(data_root=str(data_copy), split=str(lst))
    assert "no_such_id" in validate(cfg).render()
    assert_refused_before_training(cfg, SplitError, match="not in the training pool")


def test_empty_split_list(data_copy, tiny_config, tmp_path):
    lst = write_list(tmp_path / "labeled.txt", ["", "# nothing here"])
    cfg = tiny_config(data_root=str(data_copy), split=str(lst))
    report = validate(cfg)
    assert problems_about(report, lst) == ["split list is empty; expected one sample per line"]
    assert_refused_before_training(cfg, SplitError, match="empty")


def test_labeled_and_unlabeled_overlap_is_refused():
    with pytest.raises(SplitError, match="both labeled and unlabeled"):
        Split(("a", "b"), ("b", "c"), "custom")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("1/0", "fraction must be in"),
        ("3/2", "fraction must be in"),
        ("abc", "not understood"),
        ("0", "between 1 and the pool size 48"),
        ("49", "between 1 and the pool size 48"),
        ("missing.txt", "does not exist"),
    ],
)
def test_invalid_split_spec(spec, expected, data_copy, tiny_config):
    pool = ids(data_copy, "train")
    with pytest.raises(SplitError, match=expected) as info:
        make_split(pool, spec)
    assert spec in str(info.value)
    cfg = tiny_config(data_root=str(data_copy), split=spec)
    assert any(expected in p.what for p in validate(cfg).problems)
    assert_refused_before_training(cfg, SplitError, match=expected)


def test_full_split_needs_a_supervised_method(data_copy, tiny_config):
    cfg = tiny_config(data_root=str(data_copy), split="full", method="cps")
    assert "leaves no unlabeled images" in validate(cfg).render()
    assert_refused_before_training(cfg, match="no unlabeled images")


# --------------------------------------------------------------------------- config
def test_unknown_method_and_encoder(tiny_config):
    with pytest.raises(ConfigError, match="method 'mtk' is unknown; choose one of"):
        train(tiny_config(method="mtk"))
    cfg = tiny_config(encoder="resnet_nope")
    report = validate(cfg)
    assert [p.where for p in report.problems] == ["encoder"] and "resnet_nope" in report.problems[0].what
    assert "timm has no model" in validate(tiny_config(encoder="tu-nope")).render()
    with pytest.raises(ModelError, match="resnet_nope"):
        train(cfg)


@pytest.mark.parametrize(
    "overrides, names",
    [
        (dict(method="mkd", mean_teacher=True, mutual_mean_teacher=True), ["mean_teacher", "mutual_mean_teacher"]),
        (dict(method="cps", alpha=2.0), ["alpha", "no teacher"]),
        (dict(method="mkd", mean_teacher=False, mutual_mean_teacher=False, alpha=0.5), ["alpha"]),
        (dict(method="supervised", strong_aug=True), ["strong_aug"]),
        (dict(method="cps", eval_model="teacher1"), ["teacher1"]),
        (dict(gamma=1.0), ["gamma"]),
        (dict(crop_size=40), ["crop_size", "output_stride"]),
    ],
)
def test_contradictory_switches(overrides, names, tiny_config):
    cfg = tiny_config(**overrides)
    with pytest.raises(ConfigError) as info:
        resolve(cfg)
    assert all(n in str(info.value) for n in names), str(info.value)
    assert any(all(n in p.what for n in names) for p in validate(cfg).problems)


def test_consistent_switches_pass(tiny_config):
    resolve(tiny_config(method="cps"))  # carries the default alpha, unused: fine
    resolve(tiny_config(method="cps", alpha=0.0))
    resolve(tiny_config(method="mkd", mean_teacher=True, mutual_mean_teacher=False))


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("iters", "abc", "iters: expected an integer"),
        ("iters", 2.5, "iters: expected an integer"),
        ("iters", True, "iters: expected an integer"),
        ("lr", "fast", "lr: expected a number"),
        ("strong_aug", "maybe", "strong_aug: expected true/false"),
        ("method", ["mkd"], "method: expected text"),
        ("seed", None, "seed: may not be empty"),
        ("scale_range", 3, "scale_range: expected a list"),
        ("no_such_field", 1, "unknown config field"),
        ("iter", 10, "did you mean 'iters'"),
    ],
)
def test_notebook_parameter_of_wrong_type(field, value, expected):
    """papermill injects notebook parameters as Python literals; make_config checks each one."""
    with pytest.raises(ConfigError, match=expected):
        make_config(**{field: value})


def test_notebook_parameters_are_coerced():
    cfg = make_config(
        iters="100",
        lr="1e-3",
        strong_aug="false",
        scale_range="[0.5, 1.5]",
        data_root="None",
        threads=2.0,
        run_dir=Path("/tmp/x"),
    )
    assert (cfg.iters, cfg.lr, cfg.strong_aug, cfg.scale_range, cfg.data_root, cfg.threads, cfg.run_dir) == (
        100,
        0.001,
        False,
        (0.5, 1.5),
        None,
        2,
        "/tmp/x",
    )


def test_cli_validate_exit_codes(data_copy, capsys):
    from mkdlib.cli import main

    args = ["validate", "--data-root", str(data_copy), "--crop-size", "32", "--progress", "false"]
    assert main(args) == 0
    assert "OK: no problems found" in capsys.readouterr().out
    val = ids(data_copy, "val")
    image_path(data_copy, val[0]).unlink()
    mask_path(data_copy, val[1]).unlink()
    assert main(args + ["--split", "3/2"]) == 1
    out = capsys.readouterr().out
    assert "3 problem(s)" in out and str(image_path(data_copy, val[0])) in out and "'3/2'" in out
    assert main(args + ["--iters", "many"]) == 2
    assert "iters: expected an integer" in capsys.readouterr().err


# --------------------------------------------------------------------------- config files, grid filters (issue 21)
@pytest.mark.parametrize(
    "text, where",
    [
        ("method: mkd\niters: [1, 2\nsplit: 1/16\n", "line 3, column 6"),  # an unclosed list
        ("method: mkd\n  iters: 3\n", "line 2, column 8"),  # indented by mistake
        ("iters: 3\n\tlr: 0.1\n", "line 2, column 1"),  # a tab
    ],
)
def test_yaml_syntax_error_is_one_line_naming_file_line_and_column(text, where, tmp_path, capsys):
    from mkdlib.cli import main

    path = tmp_path / "my config.yaml"
    path.write_text(text)
    for command in ("train", "validate"):
        assert main([command, "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: config file {path}: YAML syntax error at {where}: "), err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing trained


@pytest.mark.parametrize(
    "content, expected",
    [
        ("iter: 3\n", "unknown config field(s): 'iter' (did you mean 'iters'?)"),
        ("iters: many\n", "iters: expected an integer, got 'many'"),
        ("method: mtk\n", "method 'mtk' is unknown"),
        ("- method\n- mkd\n", "expected a mapping of field: value"),
        ("1: 2\n", "keys [1] are not field names"),
        (b"\xff\xfe\x00binary", "cannot be read"),
    ],
)
def test_every_config_file_problem_names_the_file(content, expected, tmp_path, capsys):
    from mkdlib.cli import main

    path = tmp_path / "exp.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    nothing = str(tmp_path / "no-data")  # were the problem missed, nothing could train
    assert main(["train", "--config", str(path), "--data-root", nothing]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file {path}") and expected in err and err.count("\n") == 1, err


def test_grid_filter_that_selects_nothing_is_an_error(capsys):
    import os

    from conftest import store_result

    from mkdlib.experiments import grid, grid_configs, main

    assert main(["headline_6seeds", "--only", "no-such-run"]) == 2
    err = capsys.readouterr().err
    n = len(grid_configs(["headline_6seeds"]))
    assert err.startswith(f"error: --only 'no-such-run' matches none of the {n} run key(s) of headline"), err
    assert err.count("\n") == 1
    stored = grid("headline_6seeds")[0]  # a filter that selects runs that are all done: nothing to run, exit 0
    store_result(Path(os.environ["MKD_RESULTS_DIR"]), stored, 0.5)
    assert main(["headline_6seeds", "--only", stored.key()]) == 0
    assert "nothing to run: 1 config(s) selected, 1 already in the results store" in capsys.readouterr().out


def test_repeated_grid_filters_keep_any_of_them_in_the_grids_order(capsys):
    from mkdlib.experiments import grid_configs, main

    every = [c.key() for c in grid_configs(["ablation", "headline_6seeds"])]
    picked = [
        c.key() for c in grid_configs(["ablation", "headline_6seeds"], only=["co+mt-1_16", "mkd_release-1_16-s2"])
    ]
    assert picked == [k for k in every if "co+mt-1_16" in k or "mkd_release-1_16-s2" in k]
    assert len(picked) == 4 and picked[0].startswith("synthetic-co+mt-") and "mkd_release" in picked[-1]
    assert main(["headline_6seeds", "--only", "no-such-run", "--only", "nor-this"]) == 2
    assert "error: --only 'no-such-run' / 'nor-this' matches none" in capsys.readouterr().err
