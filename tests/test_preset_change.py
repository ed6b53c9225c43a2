"""Setting ``mkd``'s preset once its departures' screens decide (the screened preset kept in
``mkdlib.experiments.LEGACY_PRESETS``) must leave every table of the stored grids as it was: they
look their runs up as the grids stored them. Checked on the repository's own results store."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from mkdlib import experiments, registry


def _tables() -> dict[str, str]:
    from mkdlib.report import paper
    from mkdlib.report.evidence import claims, store
    from mkdlib.report.figures import collapse

    store.clear_cache()  # read the store afresh under the preset of the moment
    made = {
        "Table 1": paper.table_label_fractions,
        "Table 3": paper.table_ablation,
        "Table 4": lambda: paper.table_sweep("gamma"),
        "Table 5": lambda: paper.table_sweep("beta"),
        "diagnosis": paper.table_diagnosis,
        "co-training's decline": paper.co_training_decline,
        "superseded headline": claims.superseded_table,
        # the test-set rows read the headline, whose mkd runs follow the preset by design (and join
        # the Holm family once they have 3 pairs)
        "findings": lambda: claims.findings_table().query("`scored on` != 'test set'").drop(columns="p (Holm)"),
        "teachers' start": collapse.teacher_start_table,
        "collapse traces": collapse.trace_summary,
        "validation curves": lambda: collapse.supervised_curve(),
    }
    return {
        name: (lambda v: v.to_string() if isinstance(v, pd.DataFrame | pd.Series) else str(v))(f())
        for name, f in made.items()
    }


def _presets():
    """(``mkd``'s registry entry as screened, as set from the screens, its old settings): the
    repository's own change once it is made; before it, the change the screens could make."""
    info = registry.METHOD_INFO["mkd"]
    legacy = experiments.LEGACY_PRESETS.get("mkd")
    set_preset = dict(info.settings)
    if legacy is None:  # not set yet: as the screens could set it
        flip = {"unsup_rampup": 0.0, "aspp_dropout": 0.0}
        legacy = {k: registry.preset_setting("mkd", k) for k in flip}
        set_preset.update(flip)
    screened = dataclasses.replace(info, settings=tuple({**set_preset, **legacy}.items()))
    return screened, dataclasses.replace(info, settings=tuple(set_preset.items())), legacy


def _use(monkeypatch, info, legacy: dict | None) -> None:
    monkeypatch.setitem(registry.METHOD_INFO, "mkd", info)
    if legacy is None:
        monkeypatch.delitem(experiments.LEGACY_PRESETS, "mkd", raising=False)
    else:
        monkeypatch.setitem(experiments.LEGACY_PRESETS, "mkd", legacy)


def test_setting_the_mkd_preset_keeps_every_stored_grids_keys(monkeypatch):
    """Each grid stored before the change names the same runs under both presets (only the headline,
    whose mkd runs start after it, and preset_check, today's preset, follow the new one)."""
    screened, now, legacy = _presets()
    _use(monkeypatch, screened, None)
    before = {g: [c.key() for c in experiments.grid(g)] for g in experiments.GRIDS}
    _use(monkeypatch, now, legacy)
    after = {g: [c.key() for c in experiments.grid(g)] for g in experiments.GRIDS}
    moved = [g for g in experiments.GRIDS if before[g] != after[g]]
    assert moved == ["headline", "preset_check"], moved


def test_setting_the_mkd_preset_leaves_the_stored_grids_tables_unchanged(monkeypatch):
    """Each table under ``mkd``'s preset as screened and as set from the screens (the repository's
    own change once it is made; before it, the change the screens could make)."""
    monkeypatch.delenv("MKD_RESULTS_DIR")  # the repository's store
    from mkdlib.results import results_dir

    if not any(results_dir().glob("*/result.json")):
        pytest.skip("no results store in this checkout")
    screened, now, legacy = _presets()
    _use(monkeypatch, screened, None)
    try:
        before = _tables()
        _use(monkeypatch, now, legacy)
        assert registry.preset_setting("mkd", "unsup_rampup") == 0.0
        after = _tables()
    finally:
        from mkdlib.report.evidence.store import clear_cache

        clear_cache()  # no snapshot memo made under a patched preset outlives this test
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"tables that looked their runs up by today's preset: {changed}"


def test_the_stored_grids_rerun_on_todays_presets_under_their_own_keys(capsys):
    """The re-run the headline's issue asks for: ``--presets today`` builds the grids stored before
    the change on today's presets (other keys, the book still reads the stored version), while the
    departures' screens and the superseded headline stay as they were screened and stored."""
    from mkdlib import experiments as E
    from mkdlib.config import resolve

    today = {c.key(): c for c in E.grid("gamma", presets="today")}
    stored = {c.key(): c for c in E.grid("gamma")}
    assert not today.keys() & stored.keys()
    for c in today.values():  # today's mkd preset, only gamma varied
        assert resolve(E.base_config(method="mkd", split="1/16", seed=c.seed, gamma=c.gamma)).key() == c.key()
    assert {c.key() for c in E.grid("gamma", presets="legacy")} == stored.keys()
    for presets in E.PRESET_VERSIONS:  # each diagnosis run changes MKD as that version sets it
        default = {s: resolve(E._builder("diagnosis", presets)("mkd", split="1/16", seed=s)) for s in E.HEADLINE_SEEDS}
        assert all(c.key() != default[c.seed].key() for c in E.grid("diagnosis", presets)), presets
    assert [c.unsup_rampup for c in E.grid("diagnosis", "today") if c.unsup_rampup] == [0.1]  # the old ramp-up
    for name in (*E.ALWAYS_LEGACY, "headline", "preset_check"):  # one version only
        assert [c.key() for c in E.grid(name, "today")] == [c.key() for c in E.grid(name)]
    assert [c.key() for c in E.grid_configs(["gamma"], presets="today")] == list(today)
    with pytest.raises(E.ConfigError, match="presets must be one of legacy, today"):
        E.grid("gamma", presets="new")

    assert E.main(["--list", "--presets", "today"]) == 0
    out = capsys.readouterr().out
    gamma = next(line for line in out.splitlines() if line.startswith("gamma "))
    assert "[on the presets as stored (legacy): " in gamma
    differ = [g for g in E.GRIDS if [c.key() for c in E.grid(g, "today")] != [c.key() for c in E.grid(g)]]
    n = len(E.grid_configs(differ))  # the shared runs once: fewer than the grids' configs summed
    assert n < sum(len(E.grid(g)) for g in differ) and "gamma" in differ and "departures" not in differ
    assert f"(the {len(differ)} grids above in brackets, on the presets as stored (legacy): " in out
    assert f"/{n} done" in out.split("grids above in brackets")[1].splitlines()[0]
    assert "departures" in out and "[on" not in next(line for line in out.splitlines() if line.startswith("departures"))


def test_reading_the_grids_on_todays_presets_keeps_the_superseded_headline_and_the_screens(tmp_path, monkeypatch):
    """:data:`mkdlib.experiments.STORED_GRIDS_PRESETS` moves the grids and the validation claims to
    today's presets in one setting; the superseded headline and the departures' screens stay on the
    runs they were measured with (``as_stored``)."""
    from booktools import departures
    from mkdlib import experiments as E
    from mkdlib.config import resolve
    from mkdlib.report.evidence import claims, store
    from tests.test_claims import _store

    for s in E.PAIRED_SEEDS[:3]:  # the superseded headline's MKD and CPS + CutMix, as stored
        _store(tmp_path, resolve(E.legacy("mkd", split="1/16", seed=s)), 60.0 + s)
        _store(tmp_path, resolve(E.legacy("cps_cutmix", split="1/16", seed=s)), 58.0)
    for s in E.SCREEN_SEEDS:  # a screen of mkd as screened
        _store(tmp_path, resolve(E.legacy("mkd", split="1/16", seed=s, gamma=0.6)), 50.0)
    before = claims.superseded_table(tmp_path).set_index("claim").loc["MKD beats CPS with CutMix"]
    screens = departures.screen_pairs(dict(gamma=0.6), E.SCREEN_SEEDS, tmp_path)
    assert before["pairs"] == 3 and [p["difference"] for p in screens] == [-11.0, -12.0]  # seeds 1, 2 have mkd

    monkeypatch.setattr(E, "STORED_GRIDS_PRESETS", "today")
    store.clear_cache()
    assert [c.key() for c in E.grid("gamma")] == [c.key() for c in E.grid("gamma", "today")]
    assert (
        store.config_at(dict(method="mkd"), 1).key() == resolve(E.base_config(method="mkd", split="1/16", seed=1)).key()
    )
    after = claims.superseded_table(tmp_path).set_index("claim").loc["MKD beats CPS with CutMix"]
    assert after["pairs"] == 3 and after["ours"] == before["ours"]
    assert departures.screen_pairs(dict(gamma=0.6), E.SCREEN_SEEDS, tmp_path) == screens


def test_the_tables_take_their_1_16_references_on_the_presets_the_book_reads(tmp_path, monkeypatch):
    """Table 1's 1/16 column, Table 3's supervised line, the diagnosis references, the error breakdown
    and the gain by iteration set the methods' defaults beside their rows: on the old presets the
    superseded headline's runs, on today's the ``references`` grid's (no table mixes versions)."""
    from booktools import calibration
    from mkdlib import experiments as E
    from mkdlib.config import resolve
    from mkdlib.report import paper
    from mkdlib.report.evidence import store
    from tests.test_claims import _store

    for s in E.HEADLINE_SEEDS:
        for method in ("mkd", "cps_cutmix"):  # a preset the headline's change moved: two runs
            for cfg, miou in (
                (E.legacy(method, split="1/16", seed=s), 40.0),
                (E.base_config(method=method, split="1/16", seed=s), 60.0),
            ):
                cfg = resolve(cfg)
                _store(tmp_path, cfg, miou)
                (tmp_path / cfg.key() / "metrics.jsonl").write_text(json.dumps({"iter": 100, "miou": miou / 100}))
        cfg = resolve(E.base_config(method="supervised", split="1/16", seed=s))  # one preset: one run
        _store(tmp_path, cfg, 30.0)
        (tmp_path / cfg.key() / "metrics.jsonl").write_text(json.dumps({"iter": 100, "miou": 0.3}))
    today = {
        resolve(E.base_config(method=m, split="1/16", seed=s)).key()
        for m in ("mkd", "cps_cutmix")
        for s in E.HEADLINE_SEEDS
    }

    def read() -> dict[str, object]:
        store.clear_cache()
        fractions = paper.label_fraction_runs(tmp_path).dropna(subset=["miou"])
        breakdown = paper.breakdown_runs(tmp_path).dropna(subset=["miou"])
        diagnosis = paper.diagnosis_runs(tmp_path).dropna(subset=["miou"])
        gain = calibration.gain_by_iteration(tmp_path).set_index("method")["gain"]
        return {
            "Table 1 MKD": sorted(fractions.query("method == 'mkd'")["miou"]),
            "Table 3 supervised": sorted(
                paper.ablation_runs(tmp_path).dropna(subset=["miou"]).query("method == 'supervised'")["miou"]
            ),
            "breakdown MKD": sorted(breakdown.query("method == 'mkd'")["miou"]),
            "diagnosis MKD": sorted(diagnosis[diagnosis["setting"].str.startswith("MKD")]["miou"]),
            "gain CPS + CutMix": gain.get("cps_cutmix"),
            "today's keys read": sorted(
                (set(fractions["key"]) | set(breakdown["key"]) | set(diagnosis["key"])) & today
            ),
        }

    stored = read()
    assert E.reference_grid() == "headline_6seeds"
    assert stored["Table 1 MKD"] == stored["breakdown MKD"] == [40.0] * 3 and stored["diagnosis MKD"] == [40.0] * 3
    assert stored["gain CPS + CutMix"] == pytest.approx(10.0) and not set(stored["today's keys read"]) & today
    monkeypatch.setattr(E, "STORED_GRIDS_PRESETS", "today")
    try:
        now = read()
    finally:
        store.clear_cache()
    assert E.reference_grid() == "references"
    assert now["Table 1 MKD"] == now["breakdown MKD"] == [60.0] * 3 and now["diagnosis MKD"] == [60.0] * 3
    assert now["Table 3 supervised"] == stored["Table 3 supervised"] == [30.0] * 3  # one preset
    assert now["gain CPS + CutMix"] == pytest.approx(30.0)
    assert set(now["today's keys read"]) == today
