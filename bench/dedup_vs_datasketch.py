"""Near-dedup against datasketch: docs/s, recall of planted pairs, precision, peak RSS.

Generates N issue-like documents (~2 KB: Zipf-distributed words from a 20k vocabulary) in which a
share of documents has a planted copy edited to a known Jaccard similarity (word 5-gram shingles,
measured exactly with Python sets), from 0.5 to 1.0. Writes them as a raw ``issues`` table (one
crawl batch) and runs, in fresh processes:

- ours: ``dedup.run.dedup`` (Parquet in, flags out: documents, shingles, MinHash, LSH, exact
  verification of candidates, components, flags), 128 permutations, threshold 0.8;
- the peer: datasketch ``MinHash`` (128 permutations, its default affine32 scheme and SHA-1 hash
  of the same shingle bytes, ``update_batch``) and ``MinHashLSH(threshold=0.8)``: insert every
  document, then query each for its candidates, on the same documents (or the first
  ``--peer-docs`` of them when N is larger, because the peer needs hours and many GB at 1M).

Prints docs/s of each (wall clock, both cores available to ours; the peer is single-threaded;
imports excluded for both, and ours' one-time numba start-up shown apart and also counted in),
the ratio, recall of planted pairs with J >= 0.8 (same cluster for ours, a candidate pair for the
peer), precision (share of reported pairs with true J >= 0.8: ours = each dropped document and
its representative; the peer = its candidate pairs), and each process's peak RSS.

    python bench/dedup_vs_datasketch.py --docs 100000
    python bench/dedup_vs_datasketch.py --docs 1000000 --peer-docs 100000 [--corpus DIR]

``--corpus DIR`` keeps the generated corpus in DIR and reuses it on the next run with the same
``--docs`` and ``--seed`` (writing 1M documents takes minutes). Before the timed runs both inputs
are read once, untimed, so each side reads from the page cache whether the corpus is new or kept.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/tokenize.py shares the standard library module's name: this folder leaves the import
# path before anything (numpy, inspect, linecache) imports ``tokenize``.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)


def _vocab(n: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = set()
    while len(words) < n:
        k = int(rng.integers(3, 10))
        words.add("".join(rng.choice(letters, k)))
    return np.array(sorted(words))


def generate(n_docs: int, seed: int, dup_share: float = 0.1, words: int = 300):
    """Word-index arrays of n_docs documents; planted pairs (i, j, target) with j a copy of i."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(20_000, rng)
    # Word frequencies follow Zipf's law (p_k ~ 1/k) over the vocabulary, as in English text.
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    n_base = n_docs - int(n_docs * dup_share)
    lengths = rng.integers(words // 2, words * 3 // 2, n_base)
    flat = rng.choice(len(vocab), int(lengths.sum()), p=p)
    docs: list[np.ndarray] = np.split(flat, np.cumsum(lengths)[:-1])
    planted = []
    for k in range(n_docs - n_base):
        src = int(rng.integers(0, n_base))
        target = TARGETS[k % len(TARGETS)]
        base = docs[src]
        shingles = max(len(base) - 4, 1)
        # c replaced words, at least 5 apart, replace 5c shingles: J = (S - 5c) / (S + 5c)
        c = int(round(shingles * (1 - target) / (5 * (1 + target))))
        copy = base.copy()
        if c:
            pos = np.linspace(2, len(base) - 3, c).astype(int)
            copy[pos] = rng.integers(0, len(vocab), c)
        planted.append((src, len(docs), target))
        docs.append(copy)
    order = rng.permutation(len(docs))  # planted copies are spread over the corpus
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    docs = [docs[i] for i in order]
    planted = [(int(inv[a]), int(inv[b]), t) for a, b, t in planted]
    return vocab, docs, planted


def true_jaccard(a: str, b: str) -> float:
    from dedup.minhash import shingles_py

    sa, sb = set(shingles_py(a, 5)), set(shingles_py(b, 5))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def write_corpus(path: str, n_docs: int, seed: int, keep_texts: int) -> None:
    from ingest.run import _table
    from ingest.schema import TABLES
    from ingest.store import DataRoot

    vocab, docs, planted = generate(n_docs, seed)
    texts = [" ".join(vocab[d]) for d in docs]
    root = DataRoot(path)
    base = {f.name: None for f in TABLES["issues"].schema}
    step = 100_000
    # Rows in key order (repo, number), as the crawl writes its part files.
    keyed = sorted(range(len(texts)), key=lambda i: (f"bench/r{i // 1000}", i))
    for part, start in enumerate(range(0, len(texts), step)):
        rows = [{**base, "id": f"bench__r{i // 1000}-{i}", "repo": f"bench/r{i // 1000}", "number": i,
                 "title": "", "body": texts[i], "created_at": _ts(i), "updated_at": _ts(i), "is_pull_request": False,
                 "partial": False, "source": "api", "crawled_at": _ts(0)} for i in keyed[start:start + step]]
        root.write_parquet(f"raw/issues/batch=bench/part-{part:05d}.parquet", _table("issues", rows))
    truth = [(a, b, t, true_jaccard(texts[a], texts[b])) for a, b, t in planted]
    with open(os.path.join(path, "planted.json"), "w") as fh:
        json.dump(truth, fh)
    with open(os.path.join(path, "texts.json"), "w") as fh:
        json.dump(texts[:keep_texts], fh)


def _ts(i: int):
    from datetime import UTC, datetime, timedelta

    return datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=i)


def run_ours(path: str) -> dict:
    from dedup.config import DedupConfig
    from dedup.run import dedup, warm_up

    # numba's runtime starts on the first compiled call (about a second, once per process, like
    # an import): timed apart, and reported both ways.
    t0 = time.perf_counter()
    warm_up()
    start_up = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = dedup(path, DedupConfig(threads=2))
    secs = time.perf_counter() - t0
    import pyarrow.parquet as pq

    flags = pq.read_table(os.path.join(path, "dedup/flags/flags.parquet"),
                          columns=["record_id", "cluster_id", "keep", "similarity"]).to_pydict()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": secs, "start_up": start_up, "summary": s.to_json(), "rss_mb": _rss(), "worker_rss_mb": workers,
            "flags": flags}


def run_peer(path: str, limit: int) -> dict:
    from datasketch import MinHash, MinHashLSH

    from dedup.minhash import shingles_py

    with open(os.path.join(path, "texts.json")) as fh:
        texts = json.load(fh)[:limit]
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sketches = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=128)
        m.update_batch(shingles_py(text, 5))
        lsh.insert(i, m)
        sketches.append(m)
    pairs = set()
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j != i:
                pairs.add((min(i, j), max(i, j)))
    secs = time.perf_counter() - t0
    return {"seconds": secs, "pairs": sorted(pairs), "docs": len(texts), "rss_mb": _rss()}


def _rss() -> float:
    """Peak RSS in MB of this process (VmHWM) and, separately, of its largest worker process."""
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _child(what: str, path: str, arg: str) -> dict:
    out = os.path.join(path, f"{what}.json")
    subprocess.run([sys.executable, __file__, "--child", what, "--path", path, "--arg", arg, "--out", out], check=True)
    with open(out) as fh:
        return json.load(fh)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--peer-docs", type=int, default=100_000, help="documents the peer runs on (the first ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus", help="keep the corpus in this folder and reuse it when docs and seed match")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--arg", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = run_ours(args.path) if args.child == "ours" else run_peer(args.path, int(args.arg))
        with open(args.out, "w") as fh:
            json.dump(res, fh)
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.corpus or scratch
        t0 = time.perf_counter()
        meta = {"docs": args.docs, "seed": args.seed, "peer_docs": min(args.peer_docs, args.docs)}
        meta_path = os.path.join(tmp, "corpus.json")
        reused = os.path.exists(meta_path) and json.loads(Path(meta_path).read_text()) == meta
        if not reused:
            for name in ("raw", "dedup", "planted.json", "texts.json"):
                target = os.path.join(tmp, name)
                shutil.rmtree(target, ignore_errors=True) if os.path.isdir(target) else Path(target).unlink(missing_ok=True)
            write_corpus(tmp, args.docs, args.seed, min(args.peer_docs, args.docs))
            Path(meta_path).write_text(json.dumps(meta))
        shutil.rmtree(os.path.join(tmp, "dedup"), ignore_errors=True)  # a kept corpus: ours starts from nothing
        for folder, _, names in os.walk(tmp):  # untimed: both sides read from the page cache
            for name in names:
                with open(os.path.join(folder, name), "rb") as fh:
                    while fh.read(1 << 24):
                        pass
        with open(os.path.join(tmp, "planted.json")) as fh:
            planted = json.load(fh)
        print(f"corpus: {args.docs:,} documents, {len(planted):,} planted pairs "
              f"({'reused from ' + tmp if reused else f'written in {time.perf_counter() - t0:.0f}s'})")
        ours = _child("ours", tmp, "")
        peer_n = min(args.peer_docs, args.docs)
        peer = _child("peer", tmp, str(peer_n))
        with open(os.path.join(tmp, "texts.json")) as fh:
            texts = json.load(fh)

    # Ours: planted pairs in the same cluster; reported pairs = (dropped, representative).
    flags = ours["flags"]
    cluster = dict(zip(flags["record_id"], flags["cluster_id"], strict=True))
    rid = {i: f"bench__r{i // 1000}-{i}" for i in range(args.docs)}
    pos = {v: k for k, v in rid.items()}
    hi = [(a, b) for a, b, _, j in planted if j >= 0.8]
    recall = sum(cluster[rid[a]] == cluster[rid[b]] for a, b in hi) / max(len(hi), 1)
    reported = [(pos[r], pos[c]) for r, c, k in zip(flags["record_id"], flags["cluster_id"], flags["keep"],
                                                    strict=True) if not k]
    sims = dict(zip(flags["record_id"], flags["similarity"], strict=True))
    precision = sum(sims[rid[a]] >= 0.8 for a, _ in reported) / max(len(reported), 1)
    # The peer, on its documents.
    hi_peer = [(min(a, b), max(a, b)) for a, b in hi if a < peer_n and b < peer_n]
    peer_pairs = {tuple(p) for p in peer["pairs"]}
    peer_recall = sum(p in peer_pairs for p in hi_peer) / max(len(hi_peer), 1)
    sample = sorted(peer_pairs)[:20000]
    peer_precision = sum(true_jaccard(texts[a], texts[b]) >= 0.8 for a, b in sample) / max(len(sample), 1)

    ours_rate = args.docs / ours["seconds"]
    peer_rate = peer["docs"] / peer["seconds"]
    s = ours["summary"]
    print(f"ours      : {args.docs:,} docs in {ours['seconds']:.1f}s = {ours_rate:,.0f} docs/s; "
          f"bands x rows {s['bands'][0]} x {s['bands'][1]}; {s['candidate_pairs']:,} candidate pairs verified; "
          f"stages {s['seconds']}")
    print(f"            recall (planted J >= 0.8) {recall:.4f} of {len(hi):,}; precision {precision:.4f} "
          f"of {len(reported):,} dropped; peak RSS {ours['rss_mb']:,.0f} MB (largest worker process "
          f"{ours.get('worker_rss_mb', 0):,.0f} MB)")
    print(f"datasketch: {peer['docs']:,} docs in {peer['seconds']:.1f}s = {peer_rate:,.0f} docs/s; "
          f"recall {peer_recall:.4f} of {len(hi_peer):,}; precision {peer_precision:.4f} of {len(sample):,} "
          f"candidate pairs; peak RSS {peer['rss_mb']:,.0f} MB")
    with_start = args.docs / (ours["seconds"] + ours["start_up"])
    print(f"ratio     : {ours_rate / peer_rate:.1f}x docs/s (target >= 20x); recall target >= 0.95, "
          f"precision target >= 0.99, peak RSS target <= 4096 MB at 1M")
    print(f"            counting ours' one-time kernel start-up ({ours['start_up']:.2f}s) too: "
          f"{with_start:,.0f} docs/s, {with_start / peer_rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
