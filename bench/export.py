"""Export throughput: a release of N synthetic sequences (sequences-table-shaped Parquet, exact Qwen2.5
token counts) as Parquet and as Megatron .bin/.idx, to a local folder, with every file read back and
checked by SHA-256 as in a real export. Prints tokens/s of each (the Megatron export tokenizes
every document again, with the format stage's tokenizer).

    .venv/bin/python bench/export.py [--sequences 1000000] [--formats parquet,megatron] [--workers 2]
"""

from __future__ import annotations

import os
import sys

# Drop this folder from the import path first (a bench script must never shadow a module).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from format.config import ExportConfig  # noqa: E402
from format.export_run import export_release  # noqa: E402
from tests.format.export_data import sequences, write_sequences  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", type=int, default=1_000_000, help="sequences in all (split over the 3 kinds)")
    ap.add_argument("--formats", default="parquet,megatron")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-tokens", type=int, default=50_000_000)
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed)")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-export-"))
    try:
        t0 = time.perf_counter()
        per_kind = args.sequences // 3
        tables = sequences(per_kind, seed=0, repos=2_000)
        write_sequences(str(work / "data"), tables)
        n = sum(t.num_rows for t in tables.values())
        tokens = sum(int(t.column("n_tokens").to_numpy().sum()) for t in tables.values())
        mb = sum(t.nbytes for t in tables.values()) / 1e6
        print(f"{n:,} synthetic sequences, {tokens:,} tokens, {mb:,.0f} MB in Arrow "
              f"(generated in {time.perf_counter() - t0:.1f}s)")
        del tables
        for fmt in args.formats.split(","):
            cfg = ExportConfig(format=fmt, require_decontam=False, shard_size=args.shard_tokens, workers=args.workers,
                               memory_mb=8_192)
            t = time.perf_counter()
            s = export_release(work / "data", str(work / f"out-{fmt}"), cfg)
            dt = time.perf_counter() - t
            assert s.tokens == tokens and s.documents == n, (s.tokens, tokens)
            print(f"{fmt:>8}: {s.shards} shards, {s.bytes / 1e6:,.0f} MB, {dt:.1f}s -> {s.tokens / dt / 1e6:.2f}M tokens/s "
                  f"({n / dt:,.0f} sequences/s; render {s.seconds:.1f}s wall incl. plan)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:,.0f} MB")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
