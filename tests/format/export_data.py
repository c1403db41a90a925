"""Synthetic sequences tables (the format stage's ``SEQUENCES`` schema) with exact Qwen2.5 token
counts, for the export tests and ``bench/export.py``.

Texts are lines of the bundled SWE-bench problem statements and patches. Every line ends with a
letter or digit and lines are joined with ``\\n``, so under Qwen's pre-tokenizer a document's token
count is the sum of its lines' counts plus one per newline; counts are computed that way (fast at
a million documents) and checked against the real tokenizer on a sample of every table made.
"""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from decontam.references import BUNDLED
from format.schema import SEQUENCES
from format.templates import KINDS
from format.tokens import QwenCounter
from ingest.store import DataRoot

LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", None)


def _lines(counter: QwenCounter) -> tuple[list[str], np.ndarray]:
    t = pq.read_table(BUNDLED["swe-bench-lite"], columns=["problem_statement", "patch"])
    seen, out = set(), []
    for col in ("problem_statement", "patch"):
        for text in t.column(col).to_pylist():
            for line in (text or "").splitlines():
                line = unicodedata.normalize("NFC", line.rstrip())
                if 8 <= len(line) <= 160 and line[-1].isalnum() and line[0].isascii() and line not in seen:
                    seen.add(line)
                    out.append(line)
    out.sort()
    return out, np.array(counter.count_batch(out), dtype=np.int64)


def sequences(n: int, kinds: tuple[str, ...] = KINDS, seed: int = 0, repos: int = 50, mean_lines: int = 12,
              counter: QwenCounter | None = None, check: int = 200) -> dict[str, pa.Table]:
    """``n`` sequences per kind (a dict kind -> table sorted by sequence id)."""
    counter = counter or QwenCounter()
    lines, counts = _lines(counter)
    rng = np.random.default_rng(seed)
    out = {}
    for kind in kinds:
        k = rng.integers(2, 2 * mean_lines, size=(n, 2))  # lines of prompt, response
        picks = rng.integers(0, len(lines), size=int(k.sum()))
        ends = np.cumsum(k.reshape(-1))
        starts = ends - k.reshape(-1)
        texts = ["\n".join(lines[j] for j in picks[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        tok = np.add.reduceat(counts[picks], starts) + (k.reshape(-1) - 1)
        prompts, responses = texts[0::2], texts[1::2]
        n_prompt, n_resp = tok[0::2], tok[1::2]
        repo_ids = rng.integers(0, repos, size=n)
        numbers = np.arange(1, n + 1)
        repo_names = [f"org{r % 7}/proj{r}" for r in repo_ids.tolist()]
        rids = [f"{r.replace('/', '__')}-{x}" for r, x in zip(repo_names, numbers.tolist(), strict=True)]
        sample = {"bugfixer_v1": "code_edit", "testwriter_v1": "code_edit", "commitpack_v1": "commit_pack"}[kind]
        sids = [f"{kind}:{r}:{sample}" for r in rids]
        lic = [LICENSES[r % len(LICENSES)] for r in repo_ids.tolist()]
        t = pa.table({
            "sequence_id": sids, "kind": [kind] * n, "sample_type": [sample] * n, "record_id": rids,
            "source_ids": [[r] for r in rids], "repo": repo_names, "license": lic, "prompt": prompts,
            "response": responses, "text": [p + r for p, r in zip(prompts, responses, strict=True)],
            "n_tokens": n_prompt + n_resp + 1, "n_prompt_tokens": n_prompt,
            "template": ["synthetic_v1"] * n, "rules": ["synthetic"] * n}, schema=SEQUENCES)
        t = t.sort_by("sequence_id")
        rs = random.Random(seed)
        for i in rs.sample(range(n), min(check, n)):
            r = t.slice(i, 1).to_pylist()[0]
            real = len(counter.encode(r["prompt"])) + len(counter.encode(r["response"])) + 1
            assert real == r["n_tokens"], (r["sequence_id"], real, r["n_tokens"])
        out[kind] = t
    return out


def write_sequences(data: str, tables: dict[str, pa.Table]) -> None:
    root = DataRoot(data)
    for kind, t in tables.items():
        root.write_parquet(f"sequences/{kind}/part-00000.parquet", t)
