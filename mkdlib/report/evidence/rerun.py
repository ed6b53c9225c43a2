"""The command that makes stored runs again: ``python -m mkdlib.experiments <grids> --only <hash> ...``,
the grids that hold the configs (matched by the one rule: seed-free key and seed) and one ``--only``
per run, its key's hash (a key's seed is inside its hash, so no shorter text picks a config's seeds
and nothing else); for each claim (:func:`claim_commands`), the runs its row pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...config import Config
from .store import seed_free_key, snapshot

EXPERIMENTS_COMMAND = "python -m mkdlib.experiments"


def _grid_of(root: str | Path | None) -> dict[tuple[str, int], tuple[str, str]]:
    """(seed-free key, seed) -> (the first grid holding that config, its key in the grid), computed
    once per state of the store."""
    from ...experiments import GRIDS

    snap = snapshot(root)

    def index() -> dict:
        out: dict = {}
        for name in GRIDS:
            for cfg, sfk, key in snap.grid(name):
                out.setdefault((sfk, cfg.seed), (name, key))
        return out

    return snap.memo("grid_of", index)


def in_grid(cfg: Config, root: str | Path | None = None) -> bool:
    """Whether a grid of :mod:`mkdlib.experiments` holds ``cfg`` (the one rule: seed-free key and seed)."""
    return (seed_free_key(cfg), cfg.seed) in _grid_of(root)


def rerun_command(configs: Iterable[Config], root: str | Path | None = None) -> str:
    """``python -m mkdlib.experiments <grids> --only <hash> ...``: the grids that hold ``configs``
    and one ``--only`` per config (the hash that ends its key in the grid), so the command trains
    exactly these (those not yet stored; each is stored as the grid keys it). Configs no grid holds
    are left out; "" when none is held."""
    where = _grid_of(root)
    hits = list(dict.fromkeys(where[k] for c in configs if (k := (seed_free_key(c), c.seed)) in where))
    if not hits:
        return ""
    grids = list(dict.fromkeys(g for g, _ in hits))
    return " ".join([EXPERIMENTS_COMMAND, *grids, *(f"--only {key.rsplit('-', 1)[1]}" for _, key in hits)])


def claim_commands(root: str | Path | None = None, items=None) -> list[str]:
    """The command that makes each claim's runs again, one per row of
    :func:`~.claims.claims_table` (``items``: other claims, e.g. :data:`~.claims.FINDINGS`): both
    sides at each seed where a grid holds both (the seeds the row can pair), :func:`rerun_command`.
    Computed once per state of the store for the claims."""
    from .claims import SEEDS, claims

    def commands(todo) -> list[str]:
        out = []
        for c in todo:
            sides = {s: (c.config("a", s), c.config("b", s)) for s in SEEDS}
            both = [cfg for s in SEEDS if all(in_grid(x, root) for x in sides[s]) for cfg in sides[s]]
            out.append(rerun_command(both, root))
        return out

    if items is not None:
        return commands(items)
    return list(snapshot(root).memo("claim_commands", lambda: commands(claims())))
