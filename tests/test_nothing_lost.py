"""Issue 36: nothing of the user's is lost, overwritten or silently stale, and every refusal is one line.

One test (or a parametrised group) per case of the issue, numbered as there:

1. ``--force`` clears a finished run only after every check that can refuse it (config, device,
   model, data, loaders) has passed;
2. ``predict`` never overwrites a file it did not write, never reads its own outputs;
3. the built-in dataset is never generated into a folder holding the user's files;
4. a split list is keyed by the ids it holds, not by its path;
5. split strings are normalised (``' 1/4 '`` is ``'1/4'``);
6. a torn ``runs/<key>/result.json`` is one line naming it;
7. a torn or foreign ``results/<key>/result.json`` is skipped with a warning by ``--list``, the
   store and the claims table;
8. images smaller than the crop (1x7 px) train;
9. Ctrl-C saves, says so in one line and exits 130;
10. ``predict`` on a full disk is one line and leaves no partial file; SIGTERM unwinds too;
11. ``export`` refuses a checkpoint with non-finite values;
12. ``lr: .nan`` and an empty config file name the file;
13. ``img02.PNG`` is img02's mask;
14. byte-order marks and CRLF in ``classes.txt``, ``train.txt`` and split lists;
15. EXIF-rotated photos are read upright.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import store_result
from PIL import Image
from test_folder import CLASSES, folder_config, make_folder, render

from mkdlib import make_config, resolve
from mkdlib.config import ConfigError
from mkdlib.data import DatasetError, prepare_data
from mkdlib.data.palette import save_mask
from mkdlib.io import read_jsonl
from mkdlib.trainer import TrainingError, train
from mkdlib.validate import validate

RUN_FILES = ("result.json", "last.pt", "best.pt", "metrics.jsonl")


def one_line(err: str) -> str:
    """The one line a refusal prints (no traceback, nothing else)."""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tiny_data_root, tmp_path_factory):
    """A finished supervised run on the tiny dataset (module-wide: predict and export use it)."""
    tmp = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MKD_RESULTS_DIR", str(tmp / "results"))
        cfg = make_config(
            method="supervised",
            data_root=str(tiny_data_root),
            crop_size=32,
            batch_size=4,
            iters=2,
            eval_interval=2,
            checkpoint_interval=2,
            log_interval=1,
            warmup_iters=1,
            progress=False,
            threads=1,
            run_dir=str(tmp / "run"),
        )
        train(cfg)
    return cfg


# --------------------------------------------------------------------------- 1. --force
def _refuse_loaders(monkeypatch):
    from torch.utils.data import DataLoader

    def refuse(self):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(DataLoader, "__iter__", refuse)


@pytest.mark.parametrize(
    "kind, overrides, error, match",
    [
        ("config", {"num_workers": -1}, ConfigError, "num_workers must be >= 0"),
        ("device", {"device": "cuda"}, ConfigError, "device 'cuda'"),
        ("model", {"encoder": "resnet_nope"}, Exception, "resnet_nope"),
        ("data", {}, DatasetError, r"\.jpg: image does not exist"),
        ("loaders", {}, TrainingError, "Too many open files"),
    ],
)
def test_force_clears_a_run_only_after_every_check(
    kind, overrides, error, match, tiny_data_root, tiny_config, tmp_path, monkeypatch
):
    if kind == "device" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: device 'cuda' is not refused")
    data = shutil.copytree(tiny_data_root, tmp_path / "data")
    cfg = tiny_config(method="supervised", data_root=str(data), iters=2)
    train(cfg)
    run_dir = Path(cfg.run_dir)
    kept = {n: (run_dir / n).read_bytes() for n in RUN_FILES}
    if kind == "data":
        sid = (data / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
        (data / "JPEGImages" / f"{sid}.jpg").unlink()
    if kind == "loaders":
        _refuse_loaders(monkeypatch)
    with pytest.raises(error, match=match):
        train(tiny_config(method="supervised", data_root=str(data), iters=2, **overrides), force=True)
    assert {n: (run_dir / n).read_bytes() for n in RUN_FILES} == kept, f"--force lost the run on a {kind} refusal"


def test_force_with_a_refused_setting_on_the_command_line(finished, tmp_path, capsys):
    from mkdlib.cli import main

    run_dir = Path(finished.run_dir)
    kept = {n: (run_dir / n).read_bytes() for n in RUN_FILES}
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({k: v for k, v in finished.to_dict().items() if v is not None}))
    rc = main(["train", "--config", str(config), "--force", "--num-workers", "-1"])
    line = one_line(capsys.readouterr().err)
    assert rc == 2 and "num_workers must be >= 0, got -1" in line and str(config) in line
    assert {n: (run_dir / n).read_bytes() for n in RUN_FILES} == kept


# --------------------------------------------------------------------------- 2. and 10. predict
@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, stem in enumerate(("photo", "other")):
        Image.fromarray(render(40, 48, k)[0]).save(folder / f"{stem}.jpg")
    save_mask(render(40, 48, 0)[1], folder / "photo_mask.png")  # the user's own mask, beside the photo
    return folder


def test_predict_never_overwrites_a_users_file(finished, photos, tmp_path, capsys):
    from mkdlib.cli import main
    from mkdlib.predict import PredictError, predict_folder

    before = files_of(photos)
    with pytest.raises(PredictError, match="holds 3 file.s. predict did not write .e.g. other.jpg, photo.jpg"):
        predict_folder(finished.run_dir, photos, photos, progress=False)
    rc = main(["predict", finished.run_dir, str(photos), "--out", str(photos), "--no-progress"])
    assert rc == 2 and "--out <a new or empty folder>" in one_line(capsys.readouterr().err)
    assert files_of(photos) == before  # the user's photo_mask.png untouched, nothing added


def test_predict_reuses_its_own_folder_and_never_reads_its_outputs(finished, photos, tmp_path):
    from mkdlib.predict import MANIFEST, PredictError, predict_folder

    out = tmp_path / "pred"
    first = predict_folder(finished.run_dir, photos, out, progress=False)
    # photo_mask.png in the photos folder is an input like any image (it is the user's, not predict's)
    assert sorted(p.image.name for p in first.predictions) == ["other.jpg", "photo.jpg", "photo_mask.png"]
    again = predict_folder(finished.run_dir, photos, out, progress=False)  # its own folder: allowed
    assert again.ok and (out / MANIFEST).is_file()
    with pytest.raises(PredictError, match="holds only predict's own outputs"):
        predict_folder(finished.run_dir, out, tmp_path / "pred2", progress=False)
    shutil.copy(photos / "photo.jpg", out / "new.jpg")  # a user's image dropped into the output folder
    with pytest.raises(PredictError, match="did not write .e.g. new.jpg"):
        predict_folder(finished.run_dir, photos, out, progress=False)
    mixed = predict_folder(finished.run_dir, out, tmp_path / "pred3", progress=False)
    assert [p.image.name for p in mixed.predictions] == ["new.jpg"]  # its outputs are never inputs


def test_predict_on_a_full_disk_is_one_line_and_leaves_no_partial_file(finished, photos, tmp_path, monkeypatch, capsys):
    from mkdlib.cli import main

    calls = {"n": 0}
    fsync = os.fsync

    def full_disk(fd):
        calls["n"] += 1
        if calls["n"] > 1:  # the manifest is written, then the first mask finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    out = tmp_path / "pred"
    rc = main(["predict", finished.run_dir, str(photos / "photo.jpg"), "--out", str(out), "--no-progress"])
    line = one_line(capsys.readouterr().err)
    assert rc == 2 and f"could not write {out / 'photo_mask.png'}: No space left on device" in line
    assert sorted(p.name for p in out.iterdir()) == [".mkdlib-predict.json"]  # no 0-byte mask, no temporary


def test_an_interrupted_write_leaves_no_partial_file_and_sigterm_is_one_line(finished, photos, tmp_path, capsys):
    from mkdlib import predict
    from mkdlib.cli import main

    target = tmp_path / "o" / "x_overlay.png"

    def killed_half_way(f):
        f.write(b"\x89PNG half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict._write(target, killed_half_way)
    assert list((tmp_path / "o").iterdir()) == []

    def sigterm_during_predict(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM was not turned into a clean stop")

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predict, "predict_folder", sigterm_during_predict)
        rc = main(["predict", finished.run_dir, str(photos), "--out", str(tmp_path / "p")])
    assert rc == 130 and "stopped by signal 15 during predict" in one_line(capsys.readouterr().err)
    assert signal.getsignal(signal.SIGTERM) == previous  # put back


# --------------------------------------------------------------------------- 3. the built-in dataset
def test_built_in_dataset_is_never_generated_into_a_users_folder(tmp_path, capsys):
    from mkdlib.cli import main

    mine = make_folder(tmp_path / "my_data")
    before = files_of(mine)
    report = validate(make_config(data_root=str(mine), progress=False))
    assert not report.ok and any("add --dataset folder" in p.what for p in report.problems)
    assert main(["validate", "--data-root", str(mine)]) == 1
    assert "holds images, masks, classes.txt" in capsys.readouterr().out
    with pytest.raises(DatasetError, match="add --dataset folder"):
        train(make_config(data_root=str(mine), iters=1, progress=False, run_dir=str(tmp_path / "run")))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine\n")
    with pytest.raises(DatasetError, match="not the built-in dataset .e.g. todo.txt"):
        prepare_data(resolve(make_config(data_root=str(notes), progress=False)))
    assert files_of(mine) == before and files_of(notes) == {"todo.txt": b"mine\n"}
    assert not (tmp_path / "run" / "last.pt").exists()


# --------------------------------------------------------------------------- 4. and 5. run keys
def test_a_split_list_is_keyed_by_its_ids_not_its_path(tiny_data_root, tiny_config, tmp_path):
    pool = (tiny_data_root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    listed = tmp_path / "my_labeled.txt"
    listed.write_text("\n".join(pool[:2]) + "\n")
    cfg = resolve(tiny_config(split=str(listed), method="supervised", iters=1, run_dir=None))
    two = cfg.key()
    assert "list-" in two and "my_labeled" not in two
    assert train(cfg).run_dir.name == two
    listed.write_text("\n".join(pool[:4]) + "\n")  # edited in place: another run
    four = cfg.key()
    assert four != two
    moved = tmp_path / "elsewhere" / "labels.txt"
    moved.parent.mkdir()
    moved.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(pool[:4]).encode() + b"\r\n")  # Notepad: BOM, CRLF
    assert resolve(tiny_config(split=str(moved), method="supervised", iters=1, run_dir=None)).key() == four
    res = train(cfg)  # the run of four ids, not a returned run of two
    assert res.run_dir.name == four
    assert json.loads((res.run_dir / "result.json").read_text())["key"] == four


def test_split_strings_are_normalised_and_stored_keys_stay():
    assert make_config(split=" 1/4 ").key() == make_config(split="1/4").key() == make_config(split="1 / 4").key()
    assert resolve(make_config(split=" 1/4 ")).split == "1/4"
    assert make_config(split="FULL", method="supervised").key() == make_config(split="full", method="supervised").key()
    assert " " not in make_config(split=" 1/4 ").key()
    stored = sorted((Path(__file__).resolve().parents[1] / "results").glob("*/result.json"))
    assert stored, "no committed results to check the keys of"
    from mkdlib.registry import with_legacy_settings

    for path in stored:  # keys of stored results never change (split strings like 1/16 and full)
        result = json.loads(path.read_text())  # a field added since it was stored: its legacy value
        assert make_config(with_legacy_settings(result["config"])).key() == result["key"], path


# --------------------------------------------------------------------------- 6. and 7. corrupt files
@pytest.mark.parametrize("content", ['{"key": "synthetic-supervis', "[]"], ids=["truncated", "foreign"])
def test_a_torn_run_result_is_one_line_naming_it(content, tiny_config, tmp_path, capsys):
    from mkdlib.cli import main

    cfg = tiny_config(method="supervised", iters=2)
    train(cfg)
    result = Path(cfg.run_dir) / "result.json"
    result.write_text(content)
    with pytest.raises(TrainingError, match="result.json: it (cannot be read|lacks)"):
        train(cfg)
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({k: v for k, v in cfg.to_dict().items() if v is not None}))
    assert main(["train", "--config", str(config)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(result) in line and "--force" in line
    assert result.read_text() == content  # never overwritten


def test_torn_and_foreign_store_entries_are_skipped_with_a_warning(tmp_path, capsys, monkeypatch):
    from mkdlib import experiments, results
    from mkdlib.config import base_config
    from mkdlib.report.evidence import store
    from mkdlib.report.evidence.claims import claims_table

    root = tmp_path / "results"
    good = base_config(method="cps")
    store_result(root, good, 0.5)
    torn, foreign = root / "synthetic-mkd-1_16-s0-torn" / "result.json", root / "notes" / "result.json"
    torn.parent.mkdir()
    torn.write_text('{"key": "synthetic-mkd-1_16-s0-torn", "config": {"meth')
    foreign.parent.mkdir()
    foreign.write_text('{"hello": "world"}')
    monkeypatch.setenv("MKD_RESULTS_DIR", str(root))
    store.clear_cache()
    with pytest.warns(RuntimeWarning) as caught:
        assert experiments.main(["--list"]) == 0
        runs = store.stored_runs(root)
        claims_table(root)
        assert len(results.load_results(root)) == 1 and not results.is_done(torn.parent.name, root)
    said = " ".join(str(w.message) for w in caught)
    assert str(torn) in said and str(foreign) in said and "skipped" in said
    assert list(runs["key"]) == [good.key()]
    assert "done" in capsys.readouterr().out
    with pytest.raises(results.StoreError, match=f"{torn}.*cannot be read"):
        results.load_result(torn.parent.name, root)


# --------------------------------------------------------------------------- 8. tiny images
def test_images_smaller_than_the_crop_validate_and_train(tmp_path):
    root = make_folder(tmp_path / "small")
    for stem, (h, w) in {"img_01": (1, 7), "img_02": (7, 1), "img_04": (3, 5), "img_08": (2, 9)}.items():
        for f in (root / "images").glob(f"{stem}.*"):
            f.unlink()
        image, mask = render(40, 40, 0)
        Image.fromarray(image[:h, :w]).save(root / "images" / f"{stem}.png")
        save_mask(mask[:h, :w], root / "masks" / f"{stem}.png")
    (root / "train.txt").write_text("img_01\nimg_02\nimg_04\nimg_05\n")
    (root / "val.txt").write_text("img_07\nimg_08\n")  # a 2x9 px validation image too
    cfg = folder_config(root, tmp_path, method="supervised", split="full", iters=4, batch_size=4, eval_interval=4)
    assert validate(cfg).ok, validate(cfg).render()
    res = train(cfg, publish_result=False)  # every labeled image, 1x7 and 7x1 px included, in each batch
    assert 0.0 <= res.miou <= 1.0
    assert [m["iter"] for m in read_jsonl(res.run_dir / "metrics.jsonl") if "loss" in m] == [1, 2, 3, 4]


def test_tiny_images_are_padded_with_ignored_pixels():
    from mkdlib.data.datasets import min_train_side, pad_small

    image, mask = np.full((1, 7, 3), 9, np.uint8), np.ones((1, 7), np.uint8)
    side = min_train_side((0.5, 2.0))
    padded, pmask = pad_small(image, mask, side)
    assert padded.shape == (side, 7, 3) and pmask.shape == (side, 7)
    assert (pmask[1:] == 255).all() and (pmask[0] == 1).all() and (padded[1:] == 0).all()
    big = np.zeros((40, 40, 3), np.uint8)
    assert pad_small(big, np.zeros((40, 40), np.uint8), side)[0] is big  # normal images untouched


# --------------------------------------------------------------------------- 9. Ctrl-C
def test_ctrl_c_saves_says_one_line_and_exits_130(tiny_config, tmp_path, monkeypatch, capsys):
    from mkdlib import trainer
    from mkdlib.cli import main

    step = trainer._Run.step

    def step_then_ctrl_c(self, it, stop):
        out = step(self, it, stop)
        if it == 0:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(trainer._Run, "step", step_then_ctrl_c)
    previous = signal.getsignal(signal.SIGINT)
    cfg = tiny_config(method="supervised", iters=6, checkpoint_interval=100)
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({k: v for k, v in cfg.to_dict().items() if v is not None}))
    rc = main(["train", "--config", str(config)])
    line = one_line(capsys.readouterr().err)
    assert rc == 130 and line.startswith("stopped by Ctrl-C after iteration 2; checkpoint saved to"), line
    assert torch.load(Path(cfg.run_dir) / "last.pt", weights_only=False)["iteration"] == 2
    assert signal.getsignal(signal.SIGINT) == previous  # put back
    monkeypatch.setattr(trainer._Run, "step", step)
    assert train(cfg).run_dir == Path(cfg.run_dir)  # the same command resumes and finishes


# --------------------------------------------------------------------------- 11. export
def test_export_refuses_nonfinite_weights_and_names_an_unwritable_path(finished, tmp_path, capsys):
    from mkdlib.cli import main

    ckpt = torch.load(Path(finished.run_dir) / "best.pt", map_location="cpu", weights_only=False)
    name = next(k for k in ckpt["method"] if k.startswith("students.0.") and k.endswith("weight"))
    ckpt["method"][name][0] = float("nan")
    torch.save(ckpt, tmp_path / "diverged.pt")
    assert main(["export", str(tmp_path / "diverged.pt"), str(tmp_path / "small.pt")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "holds NaN or infinite values in 1 tensor(s) of student1" in line and name in line
    assert not (tmp_path / "small.pt").exists()
    (tmp_path / "file").write_text("")
    assert main(["export", finished.run_dir, str(tmp_path / "file" / "small.pt")]) == 2
    assert f"could not write {tmp_path / 'file' / 'small.pt'}" in one_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- 12. config files
@pytest.mark.parametrize(
    "text, match",
    [
        ("method: cps\nlr: .nan\n", r"lr: expected a finite number, got nan"),
        ("alpha: .inf\n", r"alpha: expected a finite number, got inf"),
        ("", r"is empty; expected field: value lines"),
        ("# only a comment\n", r"is empty"),
    ],
)
def test_nan_and_empty_config_files_name_the_file(text, match, tmp_path, capsys):
    from mkdlib.cli import main

    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"config file {path}.*{match}"):
        make_config(path)
    assert main(["train", "--config", str(path)]) == 2
    assert str(path) in one_line(capsys.readouterr().err)


def test_a_config_file_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfmethod: cps\r\nseed: 3\r\n")
    assert make_config(path).seed == 3 and make_config(path).method == "cps"


# --------------------------------------------------------------------------- 13.-15. misread input
def test_an_upper_case_mask_suffix_is_the_mask(folder_data, tmp_path):
    (folder_data / "masks" / "img_02.png").rename(folder_data / "masks" / "img_02.PNG")
    report = validate(folder_config(folder_data, tmp_path))
    assert report.ok, report.render()
    data = prepare_data(resolve(folder_config(folder_data, tmp_path)))
    assert data.folder.mask_path("img_02").name == "img_02.PNG"
    assert data.folder.mask("img_02").shape == (45, 39)


@pytest.fixture
def folder_data(tmp_path) -> Path:
    return make_folder(tmp_path / "mydata")


def test_byte_order_marks_and_crlf_read_as_meant(folder_data, tmp_path):
    bom = b"\xef\xbb\xbf"
    (folder_data / "classes.txt").write_bytes(bom + "\r\n".join(CLASSES).encode() + b"\r\n")
    (folder_data / "train.txt").write_bytes(bom + b"img_01\r\nimg_02\r\nimg_04\r\nimg_05\r\n")
    (folder_data / "val.txt").write_bytes(bom + b"img_07\r\nimg_08\r\n")
    labeled = tmp_path / "labeled.txt"
    labeled.write_bytes(bom + b"img_01\r\nimg_04\r\n")
    cfg = folder_config(folder_data, tmp_path, split=str(labeled))
    report = validate(cfg)
    assert report.ok, report.render()
    data = prepare_data(resolve(cfg))
    assert data.class_names == tuple(CLASSES)
    assert data.split.labeled == ("img_01", "img_04") and data.val_ids == ["img_07", "img_08"]


def test_exif_rotated_photos_are_read_upright(folder_data, tmp_path):
    from mkdlib.data.datasets import read_image

    stored = np.zeros((48, 64, 3), np.uint8)  # stored landscape: 64 wide, 48 high
    stored[:, :8] = 255  # a white band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": shown portrait, 48 wide, 64 high
    path = folder_data / "images" / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    shown = read_image(path)
    assert shown.shape == (64, 48, 3)
    assert shown[:8].mean() > 200 and shown[-8:].mean() < 50  # the band is on top, as a viewer shows it
    mask = np.zeros((64, 48), np.uint8)
    mask[:8] = 1  # drawn on the photo as displayed
    save_mask(mask, folder_data / "masks" / "phone.png")
    report = validate(folder_config(folder_data, tmp_path))
    assert report.ok, report.render()


# --------------------------------------------------------------------------- the page that lists these
def test_this_page_matches_the_tests():
    """docs/reliability.md: every test it names exists, its counts of test functions per file and of
    each issue's cases are the real ones (generated numbers go stale; these are checked)."""
    import re

    tests = Path(__file__).resolve().parent
    page = (tests.parent / "docs" / "reliability.md").read_text()
    defined = {f.name: set(re.findall(r"^def (test_\w+)", f.read_text(), re.M)) for f in tests.glob("test_*.py")}
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", page)
    assert len(named) > 20
    missing = [f"{f}::{t}" for f, t in named if t not in defined.get(f, ())]
    assert not missing, missing
    stated = page.split("## How these were run")[1].split("The times come")[0]
    counts = dict(re.findall(r"`tests/(test_\w+\.py)` (\d+)[,\s]", stated))
    assert set(counts) == {"test_errors.py", "test_reliability.py", "test_folder.py", "test_nothing_lost.py"}
    assert {f: int(n) for f, n in counts.items()} == {f: len(defined[f]) for f in counts}
    words = {"eight": 8, "fifteen": 15}
    lists = re.findall(r"found\s+(\w+)\s+more[^\n]*\n(.*?)(?=\n## |\n\n[A-Z])", page, re.S)
    assert sorted(word for word, _ in lists) == sorted(words)
    for word, section in lists:
        items = re.findall(r"^\d+\. \*\*", section, re.M)
        assert len(items) == words[word], f"'{word} more' lists {len(items)}"
