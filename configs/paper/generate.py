"""Write one config per experiment of the MKD paper's Tables 1-5 (``configs/paper/*.yaml``).

    python configs/paper/generate.py        # rewrites the YAML files next to this script

Values: the paper's text where it gives them (Sec. 4.1: DeepLabV3+ with ImageNet ResNet-50/101,
SGD momentum 0.9, weight decay 5e-4, poly 0.9, lr 0.0025 VOC / 0.01 Cityscapes, batch 16 on 4 GPUs,
crop 512 VOC / 1024x512 Cityscapes, gamma 0.4, alpha 1.5, beta 1.0); the released code where the
paper is silent (30k iterations on VOC, scale 0.5-2.0, teachers' BatchNorm in train mode, EMA
warm-up, diagonal feature statistics, lambda 1.5, student 1 evaluated, output stride 8 of mmseg's
DeepLabV3+). Assumptions, marked in each file: Cityscapes iterations (40k, mmseg's standard
schedule; neither source states it) and the Cityscapes crop (800x800 square: Config has one
crop size, and 800 is CPS's Cityscapes crop).
"""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
BACKBONES = {"r50": "resnet50", "r101": "resnet101"}
CLASSIC = {"1/16": "92", "1/8": "183", "1/4": "366", "1/2": "732"}  # Table 1 labeled counts of the 1,464
FRACTIONS = ("1/16", "1/8", "1/4", "1/2")

COMMON = dict(
    encoder_weights="imagenet",
    output_stride=8,
    decoder_channels=256,
    atrous_rates=[12, 24, 36],
    method="mkd",
    alpha=1.5,
    beta=1.0,
    gamma=0.4,
    ema_warmup=True,
    threshold=0.0,
    teacher_bn_train=True,
    fa_lambda=1.5,
    fa_covariance="diagonal",
    pseudo_from_augmented=False,
    optimizer="sgd",
    momentum=0.9,
    weight_decay=0.0005,
    schedule="poly",
    poly_power=0.9,
    batch_size=4,
    unlabeled_batch_size=4,  # per GPU: 4 GPUs x 4 = the paper's batch of 16
    scale_range=[0.5, 2.0],
    amp="auto",
    channels_last=True,
    num_workers=4,
    eval_model="student1",
    eval_interval=2000,
    checkpoint_interval=1000,
    log_interval=50,
    seed=0,
)
VOC = dict(crop_size=512, lr=0.0025, iters=30000, eval_mode="whole")
CITYSCAPES = dict(dataset="cityscapes", crop_size=800, lr=0.01, iters=40000, eval_mode="sliding", eval_crop=800)
NO_FA = dict(co_training=True, own_teacher=False, mutual_mean_teacher=True, strong_aug=True, feature_aug=False)
TABLE3 = [  # co_training, own_teacher, mutual_mean_teacher, strong_aug, feature_aug
    ("cotraining", (True, False, False, False, False)),
    ("cotraining_mt", (True, True, False, False, False)),
    ("cotraining_mutualmt", (True, False, True, False, False)),
    ("cotraining_sda", (True, False, False, True, False)),
    ("cotraining_fda", (True, False, False, False, True)),
    ("cotraining_mutualmt_sda", (True, False, True, True, False)),
    ("mkd", (True, False, True, True, True)),
]
SWITCHES = ("co_training", "own_teacher", "mutual_mean_teacher", "strong_aug", "feature_aug")
#: the paper's Table 3 row names, in TABLE3's order
TABLE3_ROWS = (
    "co-training",
    "co-training + MT",
    "co-training + mutual MT",
    "co-training + SDA",
    "co-training + FDA",
    "co-training + mutual MT + SDA",
    "co-training + mutual MT + SDA + FDA (MKD)",
)
BLENDED = {"1/16": 662, "1/8": 1323, "1/4": 2646, "1/2": 5291}  # labeled counts of the 10,582 VOCAug images
CITY = {"1/16": 186, "1/8": 372, "1/4": 744, "1/2": 1488}  # and of the 2,975 Cityscapes images


def _experiments() -> dict[str, tuple[str, dict, tuple[str, str, str]]]:
    """``{file stem: (header comment, config fields, (table, row, column))}`` for Tables 1-5."""
    out: dict[str, tuple[str, dict, tuple[str, str, str]]] = {}
    for bb, enc in BACKBONES.items():
        for frac, n in CLASSIC.items():
            out[f"t1_voc_{bb}_{n}_mkd"] = (
                f"Table 1, MKD-{bb.upper()}, {frac} ({n}): classic VOC, labels and unlabeled pool from the 1,464 fine images",
                dict(dataset="voc", split=n, split_source="u2pl", encoder=enc, **VOC),
                ("Table 1", f"MKD-{bb.upper()}", f"{frac} ({n})"),
            )
        for frac, n in {**CLASSIC, "full": "1464"}.items():
            out[f"t1_vocaug_{bb}_{n}_mkd"] = (
                f"Table 1, MKD-{bb.upper()} extra unlabeled (dagger), {frac} ({n}): labels from the 1,464 fine "
                "images, unlabeled = the other VOCAug images",
                dict(dataset="vocaug", split=n, split_source="u2pl", encoder=enc, **VOC),
                (
                    "Table 1",
                    f"MKD-{bb.upper()}, extra unlabeled (dagger)",
                    f"{'Full' if frac == 'full' else frac} ({n})",
                ),
            )
    for frac, n in {**CLASSIC, "full": "1464"}.items():
        out[f"t1_vocaug_r101_{n}_mkd_thr095"] = (
            f"Table 1, MKD-R101 extra unlabeled + 0.95 confidence threshold (dagger, star), {frac} ({n})",
            dict(dataset="vocaug", split=n, split_source="u2pl", encoder="resnet101", threshold=0.95, **VOC),
            (
                "Table 1",
                "MKD-R101, extra unlabeled, threshold 0.95 (dagger, star)",
                f"{'Full' if frac == 'full' else frac} ({n})",
            ),
        )
    for bb, enc in BACKBONES.items():
        for frac in FRACTIONS:
            tag = frac.replace("/", "-")
            out[f"t2_vocaug_cps_{bb}_{tag}_mkd"] = (
                f"Table 2, VOCAug blended, MKD {bb.upper()} {frac}, CPS split",
                dict(dataset="vocaug", split=frac, split_source="cps", encoder=enc, **VOC),
                ("Table 2, VOCAug", "MKD (CPS split)", f"{bb.upper()} {frac} ({BLENDED[frac]})"),
            )
            out[f"t2_vocaug_u2pl_{bb}_{tag}_mkd"] = (
                f"Table 2, VOCAug blended, MKD {bb.upper()} {frac}, U2PL split (dagger)",
                dict(dataset="vocaug", split=frac, split_source="u2pl", encoder=enc, **VOC),
                ("Table 2, VOCAug", "MKD (U2PL split, dagger)", f"{bb.upper()} {frac} ({BLENDED[frac]})"),
            )
            out[f"t2_cityscapes_cps_{bb}_{tag}_mkd"] = (
                f"Table 2, Cityscapes, MKD {bb.upper()} {frac}, CPS split. ASSUMED: iters 40k, square 800 crop",
                dict(split=frac, split_source="cps", encoder=enc, **CITYSCAPES),
                ("Table 2, Cityscapes", "MKD", f"{bb.upper()} {frac} ({CITY[frac]})"),
            )
    for i, (name, values) in enumerate(TABLE3, 1):
        out[f"t3_row{i}_{name}"] = (
            f"Table 3 row {i}: ablation, VOCAug 1/16 (662, CPS split), R50; switches "
            + ", ".join(f"{k}={v}" for k, v in zip(SWITCHES, values)),
            dict(
                dataset="vocaug",
                split="1/16",
                split_source="cps",
                encoder="resnet50",
                **dict(zip(SWITCHES, values)),
                **VOC,
            ),
            ("Table 3", f"row {i}: {TABLE3_ROWS[i - 1]}", "mIoU (R50)"),
        )
    for bb, enc in BACKBONES.items():
        for gamma in (0.0, 0.2, 0.4, 0.6, 0.8):
            out[f"t4_gamma{gamma:.1f}_{bb}"] = (
                f"Table 4: EMA gamma={gamma} (weight of the old teacher, Eq. 1), VOCAug 1/16 CPS split, "
                f"{bb.upper()}. ASSUMED: without feature augmentation, like Table 5",
                dict(
                    dataset="vocaug", split="1/16", split_source="cps", encoder=enc, **{**VOC, **NO_FA, "gamma": gamma}
                ),
                ("Table 4", f"gamma = {gamma}", f"ResNet-{bb[1:]}"),
            )
        for beta in (0.0, 0.5, 1.0, 1.5, 2.0):
            out[f"t5_beta{beta:.1f}_{bb}"] = (
                f"Table 5: beta={beta} (weight of L_ss, Eq. 4), alpha=1.5, VOCAug 1/16 CPS split, {bb.upper()}; "
                "without feature augmentation (its beta=1.0 R50 entry, 73.66, is Table 3 row 6)",
                dict(dataset="vocaug", split="1/16", split_source="cps", encoder=enc, **{**VOC, **NO_FA, "beta": beta}),
                ("Table 5", f"beta = {beta}", f"ResNet-{bb[1:]}"),
            )
    return out


def experiments() -> dict[str, tuple[str, dict]]:
    """``{file stem: (header comment, config fields)}`` for Tables 1-5."""
    return {stem: (comment, fields) for stem, (comment, fields, _) in _experiments().items()}


def placement() -> dict[str, tuple[str, str, str]]:
    """``{file stem: (table, row, column)}``: where each experiment's number goes in the paper."""
    return {stem: place for stem, (_, _, place) in _experiments().items()}


def main() -> None:
    for old in HERE.glob("*.yaml"):
        old.unlink()
    for stem, (comment, fields) in experiments().items():
        first = {k: fields[k] for k in ("dataset", "split", "split_source", "encoder")}
        body = yaml.safe_dump({**first, **COMMON, **fields}, sort_keys=False, default_flow_style=None)
        launch = f"# launch: torchrun --nproc_per_node 4 -m mkdlib train --config configs/paper/{stem}.yaml\n"
        (HERE / f"{stem}.yaml").write_text(f"# {comment}\n{launch}{body}")
    print(f"wrote {len(experiments())} configs to {HERE}")


if __name__ == "__main__":
    main()
