"""A run exported as a compact checkpoint (one network, float16) predicts as the run does."""

from __future__ import annotations


def test_compact_checkpoint_predicts_like_the_full_one(tiny_config, tmp_path):
    """export_compact keeps one network in float16: a few MB to commit, the same masks."""
    import numpy as np
    from PIL import Image

    from mkdlib import train
    from mkdlib.predict import predict_folder
    from mkdlib.runs import export_compact

    cfg = tiny_config(method="mkd", iters=4, run_dir=str(tmp_path / "run"))
    res = train(cfg)
    small = export_compact(res.run_dir, tmp_path / "small.pt")
    full_size = (res.run_dir / "best.pt").stat().st_size
    assert small.stat().st_size < full_size / 4
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(images / f"im{k}.png")
    a = predict_folder(res.run_dir, images, tmp_path / "out_full", progress=False)
    b = predict_folder(small, images, tmp_path / "out_small", progress=False)
    for pa, pb in zip(a.predictions, b.predictions):
        ma, mb = np.array(Image.open(pa.mask)), np.array(Image.open(pb.mask))
        assert ma.shape == mb.shape == (40, 48) and (ma == mb).mean() > 0.95  # float16 rounding only
