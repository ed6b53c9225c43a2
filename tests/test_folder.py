"""Your own data (``dataset: folder``) and ``predict``: a small folder dataset in a temporary directory
(3 classes, odd image sizes, JPEG and PNG, a few images without masks) is split, validated, trained on
with CPS for a few iterations, and predicted on; every bad input gets one line naming its file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mkdlib import make_config, resolve
from mkdlib.data import DatasetError, prepare_data
from mkdlib.data.folder import GENERATED_MARK, cache_dir, scan_folder
from mkdlib.data.palette import save_mask
from mkdlib.validate import validate

CLASSES = ["background", "square", "disc"]
SIZES = [(37, 45), (41, 50), (45, 39), (50, 61), (39, 40), (61, 47), (33, 57), (47, 35), (55, 42), (43, 43)]
MASKLESS = ["extra_a", "extra_b", "extra_c"]


def render(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy background with a bright square (class 1) and a dark disc (class 2)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 160, (h, w, 3)).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    s = max(6, min(h, w) // 3)
    y, x = rng.integers(0, h - s), rng.integers(0, w // 2 - s // 2 + 1)
    image[y : y + s, x : x + s], mask[y : y + s, x : x + s] = 240, 1
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, r = rng.integers(s, h - s // 2), rng.integers(w // 2, w - s // 2), s // 2
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    image[disc], mask[disc] = 20, 2
    mask[0, :] = 255  # an ignored row, as annotation tools leave
    return image, mask


def make_folder(root: Path) -> Path:
    """10 labeled images (odd sizes, JPEG and PNG, palette and grayscale masks) and 3 without masks."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    for k, (h, w) in enumerate(SIZES):
        image, mask = render(h, w, k)
        suffix = ".jpg" if k % 2 else ".png"
        Image.fromarray(image).save(root / "images" / f"img_{k:02d}{suffix}", quality=95)
        if k % 3:
            save_mask(mask, root / "masks" / f"img_{k:02d}.png")
        else:
            Image.fromarray(mask, mode="L").save(root / "masks" / f"img_{k:02d}.png")
    for k, stem in enumerate(MASKLESS):
        Image.fromarray(render(44 + k, 52 - k, 100 + k)[0]).save(root / "images" / f"{stem}.jpg")
    return root


def folder_config(root: Path, tmp_path: Path, **kw):
    base = dict(
        dataset="folder",
        data_root=str(root),
        method="cps",
        split="1/2",
        crop_size=32,
        batch_size=2,
        unlabeled_batch_size=2,
        iters=3,
        eval_interval=3,
        checkpoint_interval=3,
        log_interval=1,
        warmup_iters=1,
        decoder_channels=16,
        progress=False,
        threads=1,
        run_dir=str(tmp_path / "run"),
    )
    base.update(kw)
    return make_config(**base)


@pytest.fixture
def folder_data(tmp_path) -> Path:
    return make_folder(tmp_path / "mydata")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """CPS trained for 3 iterations on the folder dataset (module-wide: several tests predict with it)."""
    from mkdlib.trainer import train

    tmp = tmp_path_factory.mktemp("folder-run")
    root = make_folder(tmp / "mydata")
    cfg = folder_config(root, tmp)
    res = train(cfg, publish_result=False)
    new = tmp / "new"
    new.mkdir()
    sizes = {"wide": (30, 50), "odd": (61, 47), "large": (97, 130)}  # (h, w); 'large' > max_whole_side below
    for k, (name, (h, w)) in enumerate(sizes.items()):
        Image.fromarray(render(h, w, 500 + k)[0]).save(new / f"{name}.{'png' if k % 2 else 'jpg'}")
    return {"root": root, "run_dir": res.run_dir, "result": res, "new": new, "sizes": sizes, "tmp": tmp}


# --------------------------------------------------------------------------- the dataset
def test_split_80_20_written_beside_the_data_and_maskless_images_unlabeled(folder_data, tmp_path):
    data = prepare_data(folder_config(folder_data, tmp_path))
    train_list = (folder_data / "train.txt").read_text().splitlines()
    val_list = (folder_data / "val.txt").read_text().splitlines()
    assert train_list[0] == GENERATED_MARK and val_list[0] == GENERATED_MARK
    assert len(train_list[1:]) == 8 and len(val_list[1:]) == 2  # 80/20 of the 10 masked images
    assert sorted(data.val_ids) == val_list[1:]
    assert not set(MASKLESS) & set(data.val_ids)  # never validation
    assert set(MASKLESS) <= set(data.split.unlabeled)
    assert len(data.split.labeled) == 4 and len(data.split.unlabeled) == 4 + 3  # 1/2 of 8, the rest + 3
    assert data.class_names == tuple(CLASSES)
    assert data.folder.image(data.split.labeled[0]).ndim == 3
    assert (folder_data / "splits" / "seed0" / "1_2" / "labeled.txt").is_file()
    # the same split again, and a later image with a mask joins training, never validation
    image, mask = render(40, 40, 77)
    Image.fromarray(image).save(folder_data / "images" / "late.png")
    save_mask(mask, folder_data / "masks" / "late.png")
    again = prepare_data(folder_config(folder_data, tmp_path, split="full"))
    assert again.val_ids == data.val_ids
    assert "late" in again.split.labeled and set(again.split.unlabeled) == set(MASKLESS)


def test_list_lines_may_hold_spaces_file_names_or_two_columns():
    from mkdlib.data.folder import _list_entry

    assert _list_entry("IMG 001") == "IMG 001"
    assert _list_entry("  img_01.jpg ") == "img_01"
    assert _list_entry("images/img_01.jpeg masks/img_01.png") == "img_01"
    assert _list_entry("scan.v2") == "scan.v2"  # a dot in a stem stays
    assert _list_entry("# comment") is None and _list_entry("  ") is None


def test_split_count_and_list_path(folder_data, tmp_path):
    data = prepare_data(folder_config(folder_data, tmp_path, split="3"))
    assert len(data.split.labeled) == 3
    pool = scan_folder(folder_data).train
    chosen = tmp_path / "mine.txt"
    chosen.write_text("\n".join(pool[:2]) + "\n")
    data = prepare_data(folder_config(folder_data, tmp_path, split=str(chosen)))
    assert list(data.split.labeled) == pool[:2]
    assert set(data.split.unlabeled) == set(pool[2:]) | set(MASKLESS)


def test_hand_written_lists_are_used_as_given(folder_data, tmp_path):
    stems = sorted(p.stem for p in (folder_data / "masks").iterdir())
    (folder_data / "train.txt").write_text("\n".join(stems[:6]) + "\n")
    (folder_data / "val.txt").write_text("\n".join(stems[6:8]) + "\n")
    with pytest.warns(RuntimeWarning, match="neither"):
        data = prepare_data(folder_config(folder_data, tmp_path, split="full"))
    assert list(data.split.labeled) == stems[:6] and data.val_ids == stems[6:8]
    assert (folder_data / "train.txt").read_text().splitlines()[0] != GENERATED_MARK  # left as written


def test_read_only_folder_falls_back_to_a_cache_dir(folder_data, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("MKD_DATA_DIR", str(tmp_path / "cache-home"))
    real_write, real_mkstemp = Path.write_text, tempfile.mkstemp

    def refuse_inside(self, *a, **kw):  # as root, chmod would not stop the writes: refuse them here
        if folder_data in Path(self).resolve().parents:
            raise PermissionError(13, "Permission denied")
        return real_write(self, *a, **kw)

    def mkstemp_refusing_inside(*a, dir=None, **kw):
        if dir is not None and (folder_data == Path(dir).resolve() or folder_data in Path(dir).resolve().parents):
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*a, dir=dir, **kw)

    monkeypatch.setattr(Path, "write_text", refuse_inside)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_refusing_inside)
    with pytest.warns(RuntimeWarning, match="not writable") as caught:
        data = prepare_data(folder_config(folder_data, tmp_path))
    cache = cache_dir(folder_data)
    message = " ".join(str(w.message) for w in caught)
    assert str(folder_data) in message and str(cache) in message
    assert (cache / "val.txt").read_text().splitlines()[1:] == data.val_ids
    assert not (folder_data / "val.txt").exists()
    assert scan_folder(folder_data).lists_at == cache  # read from there next time


def test_run_key_tells_two_folders_apart_and_survives_the_written_split(folder_data, tmp_path):
    other = make_folder(tmp_path / "other")
    (other / "classes.txt").write_text("background\nbox\nball\n")
    before = folder_config(folder_data, tmp_path).key()
    prepare_data(folder_config(folder_data, tmp_path))  # writes train.txt / val.txt
    assert folder_config(folder_data, tmp_path).key() == before
    assert folder_config(other, tmp_path).key() != before
    moved = shutil.copytree(folder_data, tmp_path / "moved")
    assert folder_config(moved, tmp_path).key() == before  # the data, not where it lives


def test_another_folder_with_the_same_names_never_reuses_a_finished_run(folder_data, tmp_path, capsys):
    """The run key covers the folder's bytes, not only its names (issue 21, case 3)."""
    from mkdlib.trainer import train

    cfg = folder_config(folder_data, tmp_path, run_dir=None)
    first = train(cfg, publish_result=False)
    assert first.run_dir.name == resolve(cfg).key()
    capsys.readouterr()
    again = train(folder_config(folder_data, tmp_path, run_dir=None), publish_result=False)
    err = capsys.readouterr().err  # returning a finished run says so, in one line
    assert again.run_dir == first.run_dir and again.miou == first.miou
    assert err.count("\n") == 1 and f"{first.run_dir} already holds the finished run" in err
    # B: the same file names, class names and lists (copied), other pixels, and a mask validate rejects
    other = shutil.copytree(folder_data, tmp_path / "other")
    for path in (other / "images").glob("*.png"):
        Image.fromarray(255 - np.array(Image.open(path))).save(path)
    bad = _foreign_class(other)
    key_a = cfg.key()
    cfg_b = folder_config(other, tmp_path, run_dir=None)
    assert cfg_b.key() != key_a
    with pytest.raises(DatasetError, match="not class ids") as info:
        train(cfg_b, publish_result=False)
    assert str(bad) in str(info.value)
    # one mask edited in place changes the key too; a copy with new file times and the same bytes keeps it
    mask = folder_data / "masks" / "img_03.png"
    m = np.array(Image.open(mask))
    m[10, 10] = 2 if m[10, 10] != 2 else 1
    save_mask(m, mask)
    edited = folder_config(folder_data, tmp_path).key()
    assert edited != key_a
    same = shutil.copytree(folder_data, tmp_path / "same", copy_function=shutil.copy)
    assert folder_config(same, tmp_path).key() == edited


def test_16_bit_images_are_scaled_to_8_bits(folder_data, tmp_path):
    """16-bit PNGs are read at 8 bits (their high byte), not clipped to 255 (issue 21, case 1)."""
    from mkdlib.data.datasets import read_image

    eight = {}
    for path in sorted((folder_data / "images").iterdir()):
        gray = np.asarray(Image.open(path).convert("L"))
        path.unlink()
        Image.fromarray(gray.astype(np.uint16) * 257).save(path.with_suffix(".png"))
        eight[path.with_suffix(".png")] = gray
    for path, gray in eight.items():
        assert Image.open(path).mode == "I;16"
        assert np.array_equal(read_image(path), np.repeat(gray[..., None], 3, axis=2)), path
    report = validate(folder_config(folder_data, tmp_path))
    assert report.ok and report.checked["images decoded"] == 13, report.render()
    deep = tmp_path / "deep.tif"  # 32-bit floats: no agreed range, refused by name
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(deep)
    with pytest.raises(DatasetError, match=f"image {deep} has 32-bit float pixels .*expected an 8- or 16-bit"):
        read_image(deep)


def test_16_bit_masks_are_never_wrapped(tmp_path):
    """A 16-bit mask is read as it is; a value above 255 is an error naming it, never class v % 256."""
    from mkdlib.data.datasets import MaskValueError, read_mask

    path = tmp_path / "m.png"
    Image.fromarray(np.array([[0, 1, 2, 255]], np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    assert read_mask(path).tolist() == [[0, 1, 2, 255]] and read_mask(path).dtype == np.uint8
    Image.fromarray(np.array([[0, 1, 258, 255]], np.uint16)).save(path)
    with pytest.raises(MaskValueError, match=f"mask {path} .*holds values \\[258\\] that are not class ids") as info:
        read_mask(path)
    assert info.value.values == [0, 1, 255, 258] and info.value.shape == (1, 4)


def test_clean_folder_validates(folder_data, tmp_path):
    report = validate(folder_config(folder_data, tmp_path))
    assert report.ok, report.render()
    assert report.checked["images decoded"] == 13 and report.checked["masks decoded"] == 10  # every mask


# --------------------------------------------------------------------------- bad data: one line per file
def _resize_mask(root: Path) -> Path:
    path = root / "masks" / "img_01.png"
    Image.open(path).resize((20, 20)).save(path)
    return path


def _foreign_class(root: Path) -> Path:
    path = root / "masks" / "img_02.png"
    m = np.array(Image.open(path))
    m[5, 5:9] = 3  # classes.txt has 3 classes: 0, 1, 2
    save_mask(m, path)
    return path


def _garbage_image(root: Path) -> Path:
    path = root / "images" / "img_04.png"
    path.write_bytes(b"not a PNG at all")
    return path


def _garbage_mask(root: Path) -> Path:
    path = root / "masks" / "img_05.png"
    path.write_bytes(b"\x89PNG broken")
    return path


def _stem_twice_in_list(root: Path) -> Path:
    stems = sorted(p.stem for p in (root / "masks").iterdir())
    (root / "train.txt").write_text("\n".join(stems[:7] + [stems[0]]) + "\n")
    (root / "val.txt").write_text("\n".join(stems[7:]) + "\n")
    return root / "train.txt:8"


def _stem_twice_as_files(root: Path) -> Path:
    path = root / "images" / "img_01.png"  # img_01.jpg is there too
    Image.fromarray(render(41, 50, 1)[0]).save(path)
    return path


def _sixteen_bit_mask(root: Path) -> Path:
    """A 16-bit grayscale mask holding 258, which an 8-bit read would wrap to class 2."""
    path = root / "masks" / "img_08.png"
    m = np.array(Image.open(path)).astype(np.uint16)
    m[4, 4:7] = 258
    Image.fromarray(m).save(path)
    assert Image.open(path).mode == "I;16"
    return path


BREAKERS = {
    "mask size": (_resize_mask, ["20x20", "50x41", "same size"]),
    "class id": (_foreign_class, ["[3]", "0..2 or 255"]),
    "16-bit mask value": (_sixteen_bit_mask, ["[258]", "0..2 or 255", "I;16"]),
    "unreadable image": (_garbage_image, ["cannot be read"]),
    "unreadable mask": (_garbage_mask, ["cannot be read"]),
    "stem twice in a list": (_stem_twice_in_list, ["listed twice", "line 1"]),
    "stem twice as files": (_stem_twice_as_files, ["two images", "img_01.jpg"]),
}


@pytest.mark.parametrize("case", list(BREAKERS))
def test_each_bad_file_is_one_line_naming_it(case, folder_data, tmp_path):
    from mkdlib.trainer import train

    breaker, expected = BREAKERS[case]
    bad = breaker(folder_data)
    cfg = folder_config(folder_data, tmp_path)
    report = validate(cfg)
    assert [p.where for p in report.problems] == [str(bad)], report.render()
    line = str(report.problems[0])
    assert "\n" not in line and all(e in line for e in expected), line
    with pytest.raises(DatasetError, match="problem") as info:  # and training refuses to start
        train(cfg, publish_result=False)
    assert str(bad).split(":")[0] in str(info.value)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_every_bad_file_is_named_at_once(folder_data, tmp_path, capsys):
    from mkdlib.cli import main

    bad = [b(folder_data) for b, _ in BREAKERS.values()]
    report = validate(folder_config(folder_data, tmp_path))
    assert sorted(p.where for p in report.problems) == sorted(map(str, bad)), report.render()
    assert main(["validate", "--dataset", "folder", "--data-root", str(folder_data), "--method", "cps"]) == 1
    out = capsys.readouterr().out
    assert f"{len(bad)} problem(s)" in out and all(str(b) in out for b in bad)


def test_missing_layout_pieces_are_named(folder_data, tmp_path):
    (folder_data / "classes.txt").unlink()
    report = validate(folder_config(folder_data, tmp_path))
    assert "classes.txt does not exist" in report.render()
    with pytest.raises(DatasetError, match="needs data_root"):
        prepare_data(folder_config(folder_data, tmp_path, data_root=None))
    shutil.rmtree(folder_data / "masks")
    with pytest.raises(DatasetError, match="no masks/ folder"):
        prepare_data(folder_config(folder_data, tmp_path))


# --------------------------------------------------------------------------- train, then predict
def test_train_cps_then_predict_new_images_of_other_sizes(trained):
    from mkdlib.predict import predict_folder

    assert 0.0 <= trained["result"].miou <= 1.0
    out = trained["tmp"] / "pred"
    res = predict_folder(trained["run_dir"], trained["new"], out, max_whole_side=64, window=64, progress=False)
    assert res.ok and res.class_names == tuple(CLASSES) and res.model == "student1"
    assert len(res.predictions) == 3
    for p in res.predictions:
        h, w = trained["sizes"][p.image.stem]
        with Image.open(p.mask) as m:
            assert m.mode == "P" and m.size == (w, h)
            assert set(np.unique(np.array(m))) <= {0, 1, 2}  # only ids of classes.txt
        with Image.open(p.overlay) as o:
            assert o.size == (w, h) and o.mode == "RGB"
        assert p.sliding == (p.image.stem == "large")
    page = res.index.read_text()
    assert all(n in page for n in CLASSES)
    for p in res.predictions:  # relative links that resolve from index.html
        for f in (p.image, p.mask, p.overlay):
            assert f'href="{Path(__import__("os").path.relpath(f, out)).as_posix()}"' in page
    assert str(trained["tmp"]) not in page
    assert set(res.written) == {f for p in res.predictions for f in (p.mask, p.overlay)} | {res.index}


def test_predict_cli_models_glob_and_unreadable_images(trained, tmp_path, capsys):
    from mkdlib.cli import main

    images = tmp_path / "imgs"
    shutil.copytree(trained["new"], images)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    ckpt = str(Path(trained["run_dir"]) / "last.pt")
    rc = main(
        [
            "predict",
            ckpt,
            str(images / "*"),
            "--out",
            str(tmp_path / "o"),
            "--model",
            "student2",
            "--no-progress",
            "--window",
            "64",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1  # some failed
    assert "broken.jpg" in captured.err and "skipped" in captured.err and "Traceback" not in captured.err
    assert sorted(p.name for p in (tmp_path / "o").glob("*_mask.png")) == [
        "large_mask.png",
        "odd_mask.png",
        "wide_mask.png",
    ]
    assert "broken.jpg" in (tmp_path / "o" / "index.html").read_text()
    rc = main(
        [
            "predict",
            str(trained["run_dir"]),
            str(images / "odd.png"),
            "--out",
            str(tmp_path / "t"),
            "--model",
            "teacher1",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "has no teacher1" in err and "student1, student2" in err


def test_predict_without_stored_class_names_uses_classes_txt(trained, tmp_path):
    from mkdlib.predict import predict_folder

    ckpt = torch.load(Path(trained["run_dir"]) / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["class_names"] == tuple(CLASSES)  # stored by training: no dataset needed
    ckpt.pop("class_names")
    torch.save(ckpt, tmp_path / "old.pt")
    res = predict_folder(tmp_path / "old.pt", trained["new"] / "wide.jpg", tmp_path / "o", progress=False)
    assert res.class_names == tuple(CLASSES)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: d / "nope", "does not exist"),
        (lambda d: d, "holds no best.pt or last.pt"),
        (lambda d: (d / "x.pt").write_bytes(b"garbage") and d / "x.pt", "cannot be loaded"),
        (lambda d: torch.save({"weights": torch.zeros(2)}, d / "y.pt") or d / "y.pt", "not an mkdlib checkpoint"),
    ],
)
def test_not_a_checkpoint_is_one_clear_line(make, expected, trained, tmp_path, capsys):
    from mkdlib.cli import main
    from mkdlib.predict import PredictError, predict_folder

    path = make(tmp_path)
    with pytest.raises(PredictError, match=expected):
        predict_folder(path, trained["new"], tmp_path / "o", progress=False)
    rc = main(["predict", str(path), str(trained["new"]), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and expected in err
    assert "Traceback" not in err


def test_predict_refuses_a_checkpoint_with_nonfinite_values(trained, tmp_path, capsys):
    """A diverged run's state is not a model (issue 21, case 7): refused by name, nothing written."""
    from mkdlib.cli import main
    from mkdlib.predict import PredictError, predict_folder

    ckpt = torch.load(Path(trained["run_dir"]) / "last.pt", map_location="cpu", weights_only=False)
    name = next(k for k in ckpt["method"] if k.endswith("running_var"))
    ckpt["method"][name] = torch.full_like(ckpt["method"][name], float("inf"))
    torch.save(ckpt, tmp_path / "diverged.pt")
    with pytest.raises(PredictError, match=f"diverged.pt holds NaN or infinite values in 1 tensor.*{name}"):
        predict_folder(tmp_path / "diverged.pt", trained["new"], tmp_path / "o", progress=False)
    rc = main(["predict", str(tmp_path / "diverged.pt"), str(trained["new"]), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and str(tmp_path / "diverged.pt") in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_no_images_is_a_clear_error(trained, tmp_path):
    from mkdlib.predict import PredictError, predict_folder

    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictError, match="holds no images"):
        predict_folder(trained["run_dir"], tmp_path / "empty", tmp_path / "o")
    with pytest.raises(PredictError, match="matches no file"):
        predict_folder(trained["run_dir"], str(tmp_path / "*.jpg"), tmp_path / "o")
