"""Decontamination scan speed: our one-pass numba scan against a plain Python n-gram-set peer.

Builds ~32 MB of realistic text (the simulator world's issues, PRs, comments and commit messages,
SWE-bench Lite texts, and 1% disguised Verified problem statements, repeated with perturbations),
indexes SWE-bench Verified + Lite, and times on one core, in the same run:

- ours: ``decontam.ngrams.Scanner`` (word 13-grams and 50-character windows, Bloom + open
  addressing), plus expanding hits to instances (``ReferenceIndex.expand``);
- peer: the straightforward implementation, a Python ``set`` of 13-word tuples of the reference
  texts and, per record, the set of its 13-word tuples intersected with it.

Both use the same words (ASCII letters lowercased; letters, digits, ``_``, non-ASCII bytes) and the
same reference n-grams (no boilerplate exclusion, so the flagged records must agree exactly). Prints
MB/s/core for both, the ratio, and whether both flag the same records.

    .venv/bin/python bench/decontam_scan.py [--mb 32]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

# bench/tokenize.py shares the standard library module's name: this folder leaves the import
# path before anything (numpy, inspect, linecache) imports ``tokenize``.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decontam import ngrams  # noqa: E402
from decontam.references import TEXT_FIELDS  # noqa: E402
from decontam.run import load_references  # noqa: E402
from ingest.simulator import World, WorldSpec  # noqa: E402

N = 13
WORD = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")


def corpus(mb: float, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    world = World.generate(WorldSpec.demo(seed=seed))
    base: list[str] = []
    for it in world.items():
        base.append(f"{it.title}\n\n{it.body or ''}")
        base += [c.body for c in it.comments]
        if it.pull is not None:
            base += [c.message for c in it.pull.commits] + [c.body for c in it.pull.review_comments]
    refs = load_references(("bundled:swe-bench-verified", "bundled:swe-bench-lite"))
    ver = {i for i in refs[0].table.column("instance_id").to_pylist()}
    for row in refs[1].table.to_pylist():
        if row["instance_id"] not in ver:  # Lite-only: real issues of the same repositories
            base += [row["problem_statement"], row["hints_text"]]
    plants = refs[0].table.column("problem_statement").to_pylist()
    out: list[str] = []
    size = 0
    target = int(mb * 1e6)
    while size < target:
        t = rng.choice(base)
        if rng.random() < 0.01:
            words = rng.choice(plants).split()
            t = " ".join(w for w in words if rng.random() > 0.1)
        else:  # perturb: replace a few words so copies are not identical
            words = t.split(" ")
            for _ in range(3):
                if words:
                    words[rng.randrange(len(words))] = f"w{rng.randrange(10**6)}"
            t = " ".join(words)
        out.append(t)
        size += len(t.encode())
    return out


def ref_texts() -> list[str]:
    refs = load_references(("bundled:swe-bench-verified", "bundled:swe-bench-lite"))
    return [row[f] for r in refs for row in r.table.to_pylist() for f in TEXT_FIELDS]


def peer_index(texts: list[str]) -> set[tuple[bytes, ...]]:
    out: set[tuple[bytes, ...]] = set()
    for t in texts:
        w = [x.lower() for x in WORD.findall(t.encode("utf-8", "surrogatepass"))]
        out.update(zip(*[w[i:] for i in range(N)], strict=False))
    return out


def peer_scan(texts: list[str], ref: set[tuple[bytes, ...]]) -> set[int]:
    hit = set()
    for d, t in enumerate(texts):
        w = [x.lower() for x in WORD.findall(t.encode("utf-8", "surrogatepass"))]
        if ref & set(zip(*[w[i:] for i in range(N)], strict=False)):
            hit.add(d)
    return hit


def ours_scan(arr: pa.Array, sc: ngrams.Scanner, batch: int = 5_000) -> set[int]:
    hit: set[int] = set()
    for i in range(0, len(arr), batch):
        h = sc.scan(arr.slice(i, batch))
        hit.update((np.flatnonzero(ngrams.docs_with_hits(h)) + i).tolist())
    return hit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=32)
    args = ap.parse_args()
    texts = corpus(args.mb)
    arr = pa.array(texts, pa.large_string())
    mb = sum(len(t.encode()) for t in texts) / 1e6
    rtexts = ref_texts()
    # The same reference n-grams for both: every word 13-gram of Verified + Lite.
    h = ngrams.all_keys(rtexts, N, 50)
    keys = np.unique(h.val[h.kind == 0])
    sc = ngrams.Scanner(N, 50, keys)
    ref = peer_index(rtexts)
    print(f"corpus: {len(texts):,} texts, {mb:.1f} MB; reference 13-grams: {len(keys):,} (ours) {len(ref):,} (peer)")
    # Warm-up: compiled kernels loaded, buffers allocated and touched, Python caches hot.
    ours_scan(arr.slice(0, 20_000), sc)  # whole batches: the reused buffers reach their size
    peer_scan(texts[:2000], ref)
    t0 = time.perf_counter()
    ours = ours_scan(arr, sc)
    t1 = time.perf_counter()
    peer = peer_scan(texts, ref)
    t2 = time.perf_counter()
    a, b = mb / (t1 - t0), mb / (t2 - t1)
    print(f"ours: {a:,.1f} MB/s/core ({t1 - t0:.2f} s; word 13-grams and 50-char windows probed)")
    print(f"peer: {b:,.1f} MB/s/core ({t2 - t1:.2f} s; Python set of 13-word tuples)")
    print(f"ratio: {a / b:.1f}x")
    print(f"flagged records: ours {len(ours):,}, peer {len(peer):,}, same: {ours == peer}")


if __name__ == "__main__":
    main()
