"""The release mixture: how many tokens of each kind, how many copies of each sequence, in which
order, cut into which shards.

Reads/writes nothing: token counts and ids in, NumPy arrays out. The one idea: every choice is a
function of ``(seed, kind, sequence id, copy number)`` through a 64-bit hash, never of row positions
or a stateful generator, so the same inputs give the same release, and a sequence keeps its place
relative to the others when sequences are added or removed.

- Targets per kind (:func:`targets`): an explicit ``token_targets`` entry; else a share of
  ``total_tokens`` (``weights``, or the available tokens times ``epochs`` when no weights are
  given); else the available tokens times ``epochs`` (Kimi-Dev upsampled one part x4 this way).
- Copies (:func:`copies_for`): ``target // available`` copies of every sequence, then one more copy
  of sequences taken in seeded-hash order until the remainder is reached (up- and down-sampling
  alike; a kind ends at most one sequence past its target).
- Order (:func:`instance_order`): the document instances ``(row, copy)`` sorted by a hash of their
  key, a seeded shuffle in which copies of one sequence land far apart.
- Shards (:func:`cut`): consecutive runs of the order holding at most ``shard_size`` units (tokens
  or bytes); a single larger document is a shard of its own.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ingest.errors import ConfigError

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer over uint64 (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def hash_keys(seed: int, kind: str, ids: Sequence[str]) -> np.ndarray:
    """A uint64 per sequence id: BLAKE2b-64 of ``seed, kind, id`` (stable across runs, machines and
    library versions)."""
    prefix = f"{seed}\0{kind}\0".encode()
    out = np.empty(len(ids), dtype=np.uint64)
    for i, sid in enumerate(ids):
        out[i] = int.from_bytes(hashlib.blake2b(prefix + sid.encode(), digest_size=8).digest(), "little")
    return out


def targets(available: Mapping[str, int], *, epochs: Mapping[str, float] | None = None,
            weights: Mapping[str, float] | None = None, token_targets: Mapping[str, int] | None = None,
            total_tokens: int | None = None, max_epochs: float = math.inf) -> dict[str, int]:
    """Target tokens per kind of ``available`` (kind -> tokens there are). Raises ``ConfigError``
    (naming the key) for a target no data can meet: a kind with no tokens that must have some, or
    more copies than ``max_epochs``."""
    epochs, weights, token_targets = dict(epochs or {}), dict(weights or {}), dict(token_targets or {})
    out: dict[str, int] = {}
    for kind, n in token_targets.items():
        out[kind] = int(n)
    rest = [k for k in available if k not in out]
    if total_tokens is not None:
        budget = total_tokens - sum(out.values())
        if budget < 0:
            raise ConfigError(f"export.token_targets: {sum(out.values()):,} tokens exceed export.total_tokens "
                              f"{total_tokens:,}")
        if weights:
            shares = {k: float(weights.get(k, 0.0)) for k in rest}
            key = "export.weights"
        else:
            shares = {k: available[k] * float(epochs.get(k, 1.0)) for k in rest}
            key = "export.total_tokens"
        total = sum(shares.values())
        if budget and total <= 0:
            raise ConfigError(f"{key}: no kind to spend {budget:,} tokens on (no sequences or zero weights)")
        # Largest remainders: targets add up to the budget exactly.
        exact = {k: budget * s / total if total else 0.0 for k, s in shares.items()}
        base = {k: math.floor(v) for k, v in exact.items()}
        left = budget - sum(base.values())
        for k in sorted(exact, key=lambda k: (base[k] - exact[k], k))[:left]:
            base[k] += 1
        out.update(base)
    else:
        for k in rest:
            out[k] = round(available[k] * float(epochs.get(k, 1.0)))
    for kind, t in out.items():
        have = available.get(kind, 0)
        if t > 0 and have == 0:
            raise ConfigError(f"export: kind {kind} has a target of {t:,} tokens and no sequences")
        if have and t / have > max_epochs:
            raise ConfigError(f"export: kind {kind} needs {t / have:.2f} copies of its {have:,} tokens to reach "
                              f"{t:,} (export.max_epochs is {max_epochs:g})")
    return {k: out[k] for k in available if k in out}


def copies_for(tokens: np.ndarray, keys: np.ndarray, target: int) -> np.ndarray:
    """Copies (int32) of each sequence so the kind holds ``target`` tokens (at most one sequence
    more): every sequence ``target // available`` times, then one more copy of sequences in
    ``keys`` order until the remainder is reached."""
    tokens = np.asarray(tokens, dtype=np.int64)
    copies = np.zeros(len(tokens), dtype=np.int32)
    avail = int(tokens.sum())
    if avail <= 0 or target <= 0:
        return copies
    full, rem = divmod(int(target), avail)
    copies[:] = full
    if rem:
        perm = np.argsort(keys, kind="stable")
        cum = np.cumsum(tokens[perm])
        m = int(np.searchsorted(cum, rem, side="left")) + 1
        copies[perm[:m]] += 1
    return copies


def instance_order(keys: np.ndarray, copies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, copy) of every document instance, in release order (seeded shuffle)."""
    copies = np.asarray(copies, dtype=np.int64)
    rows = np.repeat(np.arange(len(copies), dtype=np.int64), copies)
    first = np.cumsum(copies) - copies
    copy = np.arange(len(rows), dtype=np.int64) - np.repeat(first, copies)
    with np.errstate(over="ignore"):
        ikeys = _mix64(keys[rows] + (copy.astype(np.uint64) + np.uint64(1)) * _GOLDEN)
    order = np.lexsort((copy, rows, ikeys))  # ties (never seen) broken by row and copy
    return rows[order], copy[order].astype(np.int32)


def cut(sizes: np.ndarray, shard_size: int) -> np.ndarray:
    """Shard boundaries into ``sizes`` (in release order): ``starts`` with ``len = shards + 1``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    n = len(sizes)
    cum = np.concatenate([[0], np.cumsum(sizes)])
    starts = [0]
    s = 0
    while s < n:
        e = int(np.searchsorted(cum, cum[s] + shard_size, side="right")) - 1
        e = max(e, s + 1)  # one document larger than a shard is a shard of its own
        starts.append(e)
        s = e
    return np.asarray(starts, dtype=np.int64)
