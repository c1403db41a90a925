"""Stream GH Archive hour files into the raw tables: the I/O half of the GH Archive source.

Reads: hour files (``*.json.gz``, one JSON event per line) from local paths, globs, directories,
``http(s)://`` URLs (``requests``, streamed), other fsspec URLs (``s3://...`` when its filesystem
is installed), and hour ranges expanded to ``{base_url}/{YYYY-MM-DD}-{H}.json.gz``; the latest
``repos`` table (repository selection); ``raw/_state/gharchive.json``. Writes:
``raw/{issues,pulls,comments,rejects}/batch=<crawl_id>/part-gha-<file stem>-NNNNN.parquet``, then
the state file. Returns a ``GhArchiveSummary``.

The one idea: an hour file is the unit of commit. It is streamed in constant memory (chunked gzip
-> lines -> a byte-level prefilter that discards most events, PushEvent, WatchEvent, ... and
unselected repositories, before any JSON parsing -> ``gharchive.map_event`` -> a buffer keeping
the newest row per key, written as a part every ``flush_rows`` rows / ``flush_mb``). Its rows
depend only on the file and the config, so its parts have the same names and bytes on every run;
once the last part is written the file is recorded in the state file (name, size, ETag, rows) and
later runs skip it. A crash mid-file leaves parts that the re-run rewrites (same batch) or
duplicates (new batch, identical rows, one kept by latest-per-key): the tables come out the same.

Repository selection (``repo_selection``): "list" -- the given repositories (``owner/name``,
matched case-insensitively, and by repository id when the ``repos`` table knows it, so events
from before a rename still match); "repos_table" -- every repository of the ``repos`` table that
passes the crawl's filters (stars, licence, fork, archived); "all" -- everything (discovery);
"auto" -- list if given, else repos_table if the table has rows, else all. Skipped events are
counted by reason (``other_event_type``, ``repo_not_selected``, ``repo_<filter reason>``).

Errors: a local file that is missing, unreadable or not gzip, an explicit URL that answers 404,
an empty glob or directory -> ``ConfigError`` naming it, before anything is written. A file that
turns out corrupt or truncated mid-stream -> a per-file failure in the summary and the state file
(not marked done, the run goes on). Hours of a range that GH Archive does not have (its known
holes) -> "missing". Network errors -> retried ``max_attempts`` times, then ``RetryableError``
(completed files stay recorded, so the retry resumes). One ingest per data root at a time: the
state file is rewritten after each file.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests

try:  # ISA-L's inflate is about twice as fast as zlib's (same API); zlib when it is not installed
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    _zlib = zlib  # type: ignore[assignment]

from ingest.config import GhArchiveConfig, read_repos_file
from ingest.errors import ConfigError, RetryableError
from ingest.filters import repo_skip_reason
from ingest.gharchive import EPOCH, KEY, OUT_TABLES, VERSION, LineFilter, event_repo, map_event, reject_line
from ingest.run import _table, new_crawl_id
from ingest.store import DataRoot

log = logging.getLogger("swe_curate.ingest.gharchive")

STATE = "raw/_state/gharchive.json"
ProgressFn = Callable[[str, str, dict[str, Any]], None]  # (event, file name, info), as run.ProgressFn

_CHUNK = 1 << 20  # compressed bytes per read
_OUT_MAX = 16 << 20  # decompressed bytes per zlib call (bounds memory even on a gzip bomb)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:-(\d{1,2}))?(?:\.\.(\d{4}-\d{2}-\d{2})(?:-(\d{1,2}))?)?$")
_HOUR_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(\d{1,2})\.json\.gz$")
_PROGRESS_EVERY = 250_000


_SKIP = object()  # an event of a repository the selection leaves out


class FileFailed(Exception):
    """This hour file cannot be ingested (corrupt, truncated, unreadable); the run goes on."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _Missing(Exception):
    pass


# -- sources -------------------------------------------------------------------------------------------

@dataclass
class HourFile:
    name: str  # file name: the identity in the state file and the part names
    source: str  # path or URL
    kind: str  # local | http | fsspec
    explicit: bool  # named by the user (vs. expanded from an hour range: GH Archive has holes)
    size: int | None = None
    etag: str | None = None

    @property
    def stem(self) -> str:
        base = self.name[:-8] if self.name.endswith(".json.gz") else self.name.rsplit(".", 1)[0]
        return re.sub(r"[^A-Za-z0-9._-]", "_", base)

    @property
    def hour(self) -> datetime:
        """The hour in the file name (GH Archive's naming), else the epoch: the ``crawled_at`` of
        rejects that have no event time."""
        m = _HOUR_NAME.search(self.name)
        if not m:
            return EPOCH
        y, mo, d, h = (int(x) for x in m.groups())
        try:
            return datetime(y, mo, d, h, tzinfo=UTC)
        except ValueError:
            return EPOCH


def hour_url(base_url: str, hour: datetime) -> str:
    return f"{base_url}/{hour:%Y-%m-%d}-{hour.hour}.json.gz"


def _expand_range(text: str) -> list[datetime] | None:
    m = _RANGE.match(text)
    if not m:
        return None
    d0, h0, d1, h1 = m.groups()
    try:
        start = datetime.strptime(d0, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(hours=int(h0 or 0))
        if d1 is None:
            end = start if h0 is not None else start + timedelta(hours=23)
        else:
            end = datetime.strptime(d1, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(hours=int(h1) if h1 else 23)
    except ValueError:
        raise ConfigError(f"GH Archive source {text!r}: not a valid date or hour") from None
    if (h0 and int(h0) > 23) or (h1 and int(h1) > 23):
        raise ConfigError(f"GH Archive source {text!r}: hours run 0..23")
    if end < start:
        raise ConfigError(f"GH Archive source {text!r}: the range ends before it starts")
    n = int((end - start).total_seconds() // 3600)
    return [start + timedelta(hours=i) for i in range(n + 1)]


def _kind(source: str) -> str:
    low = source.lower()
    if low.startswith(("http://", "https://")):
        return "http"
    if "://" in source and not low.startswith("file://"):
        return "fsspec"
    return "local"


def _local_file(path: str, explicit: bool) -> HourFile:
    return HourFile(os.path.basename(path), path, "local", explicit)


def plan(config: GhArchiveConfig, sources: Iterable[str]) -> list[HourFile]:
    """The hour files to ingest, in order, without reading them."""
    files: list[HourFile] = []
    for raw in sources:
        src = str(raw).strip()
        if not src:
            continue
        hours = _expand_range(src)
        if hours is not None:
            files += [_from_url(hour_url(config.base_url, h), explicit=False) for h in hours]
        elif _kind(src) != "local":
            files += _expand_remote(src)
        else:
            path = src[7:] if src.lower().startswith("file://") else src
            if os.path.isdir(path):
                found = sorted(globlib.glob(os.path.join(globlib.escape(path), "*.json.gz")))
                if not found:
                    raise ConfigError(f"GH Archive directory {src}: no *.json.gz files in it")
                files += [_local_file(p, True) for p in found]
            elif globlib.has_magic(path):
                found = sorted(p for p in globlib.glob(path) if os.path.isfile(p))
                if not found:
                    raise ConfigError(f"GH Archive source {src}: the pattern matches no files")
                files += [_local_file(p, True) for p in found]
            else:
                files.append(_local_file(path, True))
    files += [_from_url(hour_url(config.base_url, h), explicit=False) for h in config.hours()]
    out: list[HourFile] = []
    seen: dict[str, str] = {}
    for f in files:
        if f.name in seen:
            if seen[f.name] != f.source:
                raise ConfigError(f"GH Archive sources {seen[f.name]} and {f.source} share the file name {f.name}")
            continue
        seen[f.name] = f.source
        out.append(f)
    return out


def _from_url(url: str, explicit: bool) -> HourFile:
    kind = _kind(url)
    if kind == "local":
        return _local_file(url[7:] if url.lower().startswith("file://") else url, explicit)
    return HourFile(url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0], url, kind, explicit)


def _expand_remote(src: str) -> list[HourFile]:
    if _kind(src) == "http" or not any(c in src for c in "*?["):
        return [_from_url(src, True)]
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(src)
        found = sorted(fs.glob(path))
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"GH Archive source {src}: {exc}") from None
    if not found:
        raise ConfigError(f"GH Archive source {src}: the pattern matches no files")
    proto = src.split("://", 1)[0]
    return [HourFile(p.rsplit("/", 1)[-1], f"{proto}://{p}", "fsspec", True) for p in found]


# -- reading -------------------------------------------------------------------------------------------

class _Http:
    def __init__(self, config: GhArchiveConfig):
        self.cfg = config
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "swe-curate (GH Archive source)"

    def _retry(self, what: str, fn: Callable[[], Any]) -> Any:
        last: Exception | None = None
        for attempt in range(self.cfg.max_attempts):
            try:
                return fn()
            except (requests.ConnectionError, requests.Timeout, _ServerError) as exc:
                last = exc
                if attempt + 1 < self.cfg.max_attempts:
                    time.sleep(min(self.cfg.backoff_base_s * 2 ** attempt, 60))
        raise RetryableError(f"GH Archive {what}: {last}")

    def head(self, f: HourFile) -> None:
        def go() -> requests.Response:
            r = self.session.head(f.source, timeout=self.cfg.timeout_s, allow_redirects=True)
            if r.status_code >= 500 or r.status_code == 429:
                raise _ServerError(f"HTTP {r.status_code}")
            return r

        r = self._retry(f.source, go)
        if r.status_code in (404, 410):
            raise _Missing(f"HTTP {r.status_code}")
        if r.status_code >= 400:
            raise FileFailed(f"http_{r.status_code}", f.source)
        size = r.headers.get("Content-Length")
        f.size = int(size) if size and size.isdigit() else None
        f.etag = r.headers.get("ETag")

    def open(self, f: HourFile) -> tuple[Callable[[int], bytes], Callable[[], None]]:
        def go() -> requests.Response:
            r = self.session.get(f.source, stream=True, timeout=self.cfg.timeout_s)
            if r.status_code >= 500 or r.status_code == 429:
                r.close()
                raise _ServerError(f"HTTP {r.status_code}")
            return r

        r = self._retry(f.source, go)
        if r.status_code in (404, 410):
            r.close()
            raise _Missing(f"HTTP {r.status_code}")
        if r.status_code >= 400:
            r.close()
            raise FileFailed(f"http_{r.status_code}", f.source)

        def read(n: int) -> bytes:
            try:
                return r.raw.read(n, decode_content=False)
            except Exception as exc:  # urllib3 protocol / timeout errors mid-stream
                raise RetryableError(f"GH Archive {f.source}: {type(exc).__name__}: {exc}") from None

        return read, r.close


class _ServerError(Exception):
    pass


def _stat(f: HourFile, http: _Http) -> None:
    """Size (and ETag) of a file; raises ``_Missing`` when it does not exist."""
    if f.kind == "local":
        try:
            st = os.stat(f.source)
        except FileNotFoundError:
            raise _Missing("no such file") from None
        except OSError as exc:
            raise FileFailed("unreadable", exc.strerror or str(exc)) from None
        f.size = st.st_size
    elif f.kind == "http":
        http.head(f)
    else:
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(f.source)
            info = fs.info(path)
        except FileNotFoundError:
            raise _Missing("not found") from None
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"GH Archive source {f.source}: {exc}") from None
        except OSError as exc:
            raise RetryableError(f"GH Archive {f.source}: {exc}") from None
        f.size = info.get("size")
        f.etag = info.get("ETag") or info.get("etag")


def _open(f: HourFile, http: _Http) -> tuple[Callable[[int], bytes], Callable[[], None]]:
    if f.kind == "http":
        return http.open(f)
    if f.kind == "local":
        try:
            fh = open(f.source, "rb")  # noqa: SIM115 - closed by the caller
        except FileNotFoundError:
            raise _Missing("no such file") from None
        except OSError as exc:
            raise FileFailed("unreadable", exc.strerror or str(exc)) from None

        def read_local(n: int) -> bytes:
            try:
                return fh.read(n)
            except OSError as exc:
                raise FileFailed("read_error", exc.strerror or str(exc)) from None

        return read_local, fh.close
    import fsspec

    try:
        fh = fsspec.open(f.source, "rb").open()
    except FileNotFoundError:
        raise _Missing("not found") from None
    except OSError as exc:
        raise RetryableError(f"GH Archive {f.source}: {exc}") from None

    def read_remote(n: int) -> bytes:
        try:
            return fh.read(n)
        except OSError as exc:
            raise RetryableError(f"GH Archive {f.source}: {exc}") from None

    return read_remote, fh.close


class _Counts:
    __slots__ = ("compressed", "json")

    def __init__(self) -> None:
        self.compressed = 0
        self.json = 0


def gzip_lines(read: Callable[[int], bytes], counts: _Counts | None = None) -> Iterator[bytes]:
    """Lines of a gzip stream (multi-member files too) in constant memory. Raises ``FileFailed`` for
    data that is not gzip, corrupt, or ends inside a member (truncated)."""
    counts = counts or _Counts()
    d = _zlib.decompressobj(31)
    carry = b""
    first = True
    open_member = False
    while True:
        data = read(_CHUNK)
        if not data:
            break
        counts.compressed += len(data)
        if first:
            if data[:2] != b"\x1f\x8b":
                raise FileFailed("not_gzip", "the file does not start with the gzip magic bytes")
            first = False
        while data:
            open_member = True
            try:
                out = d.decompress(data, _OUT_MAX)
            except (zlib.error, _zlib.error) as exc:
                raise FileFailed("corrupt_gzip", str(exc)) from None
            data = d.unconsumed_tail
            if d.eof:
                data = d.unused_data + data
                d = _zlib.decompressobj(31)
                open_member = False
            if out:
                counts.json += len(out)
                lines = (carry + out).split(b"\n") if carry else out.split(b"\n")
                carry = lines.pop()
                yield from lines
    if first:
        raise FileFailed("empty", "the file is empty")
    if open_member:
        raise FileFailed("truncated", "the gzip stream ends before its last member does")
    if carry:
        yield carry


# -- repository selection ------------------------------------------------------------------------------

class Selection:
    """Which repositories' events are kept, and under which spelling of their name."""

    def __init__(self, mode: str, names: dict[bytes, tuple[str, str | None]] | None = None,
                 ids: dict[int, tuple[str, str | None]] | None = None):
        self.mode = mode
        self.all = mode == "all"
        self.names = names or {}
        self.ids = ids or {}

    def lookup(self, rid: int | None, name: bytes) -> tuple[str, str | None] | None:
        """``(canonical name, skip reason or None)``, or None when the repository is not selected."""
        if rid is not None:
            hit = self.ids.get(rid)
            if hit is not None:
                return hit
        return self.names.get(name.lower())


def build_selection(root: DataRoot, config: GhArchiveConfig, repos: Iterable[str] | None) -> Selection:
    listed = list(repos) if repos is not None else list(config.repos)
    if repos is None and config.repos_file:
        listed += read_repos_file(config.repos_file)
    mode = config.repo_selection
    table = root.read_latest("repos").to_pylist() if (mode != "all") else []
    if mode == "auto":
        mode = "list" if listed else "repos_table" if table else "all"
    if mode == "all":
        return Selection("all")
    names: dict[bytes, tuple[str, str | None]] = {}
    ids: dict[int, tuple[str, str | None]] = {}
    if mode == "list":
        if not listed:
            raise ConfigError("GH Archive: repo_selection is 'list' but no repositories were given")
        known = {r["repo"].lower(): r for r in table}
        for name in dict.fromkeys(listed):
            names[name.lower().encode()] = (name, None)
            row = known.get(name.lower())
            if row and row.get("repo_id") is not None:
                ids[row["repo_id"]] = (name, None)
        return Selection("list", names, ids)
    if not table:
        raise ConfigError("GH Archive: repo_selection is 'repos_table' but the repos table is empty "
                          "(crawl repositories first, or give --repo)")
    for r in table:
        meta = {"fork": r.get("fork"), "archived": r.get("archived"), "stargazers_count": r.get("stars"),
                "license": {"spdx_id": r.get("license")} if r.get("license") else None}
        reason = repo_skip_reason(meta, min_stars=config.min_stars, licenses=config.licenses,
                                  include_forks=config.include_forks, include_archived=config.include_archived)
        names[r["repo"].lower().encode()] = (r["repo"], reason)
        if r.get("repo_id") is not None:
            ids[r["repo_id"]] = (r["repo"], reason)
    return Selection("repos_table", names, ids)


# -- writing -------------------------------------------------------------------------------------------

class _Parts:
    """The newest row per key of one hour file, written as ``part-gha-<stem>-NNNNN.parquet``."""

    def __init__(self, root: DataRoot, crawl_id: str, stem: str, flush_rows: int, flush_bytes: int):
        self.root, self.crawl_id, self.stem = root, crawl_id, stem
        self.flush_rows, self.flush_bytes = flush_rows, flush_bytes
        self.buf: dict[str, dict[tuple, dict[str, Any]]] = {t: {} for t in OUT_TABLES}
        self.n = 0
        self.bytes = 0
        self.seq: Counter[str] = Counter()
        self.written: Counter[str] = Counter()

    def add(self, table: str, row: dict[str, Any], size: int) -> None:
        d = self.buf[table]
        k = tuple(row[c] for c in KEY[table])
        old = d.get(k)
        if old is None:
            d[k] = row
            self.n += 1
        elif VERSION[table](row) >= VERSION[table](old):  # ties: the later event wins
            d[k] = row
        self.bytes += size
        if self.n >= self.flush_rows or self.bytes >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        for name in OUT_TABLES:
            rows = self.buf[name]
            if rows:
                n = self.seq[name]
                self.seq[name] += 1
                self.written[name] += len(rows)
                self.root.write_parquet(f"raw/{name}/batch={self.crawl_id}/part-gha-{self.stem}-{n:05d}.parquet",
                                        _table(name, list(rows.values())))
                self.buf[name] = {}
        self.n = 0
        self.bytes = 0


# -- the run -------------------------------------------------------------------------------------------

@dataclass
class FileOutcome:
    name: str
    source: str
    status: str  # done | skipped | failed | missing
    reason: str | None = None
    detail: str | None = None
    events: int = 0
    matched: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class GhArchiveSummary:
    crawl_id: str
    data_root: str
    files: list[FileOutcome] = field(default_factory=list)
    events_read: int = 0  # lines read
    events_matched: int = 0  # wanted type and repository: parsed and mapped
    bytes_compressed: int = 0
    bytes_json: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)  # "table:reason" (bots, rejects, ...)
    skipped: Counter[str] = field(default_factory=Counter)  # events skipped before parsing, by reason
    seconds: float = 0.0

    def names(self, status: str) -> list[str]:
        return [f.name for f in self.files if f.status == status]

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "crawl_id": self.crawl_id, "data_root": self.data_root,
            "files": {s: len(self.names(s)) for s in ("done", "skipped", "failed", "missing")},
            "events_read": self.events_read, "events_matched": self.events_matched,
            "bytes_compressed": self.bytes_compressed, "bytes_json": self.bytes_json,
            "rows": dict(sorted(self.rows.items())), "dropped": dict(sorted(self.dropped.items())),
            "skipped": dict(sorted(self.skipped.items())), "seconds": round(self.seconds, 3),
            "per_file": [asdict(f) for f in self.files],
        }


def _check_local(f: HourFile) -> None:
    try:
        with open(f.source, "rb") as fh:
            magic = fh.read(2)
    except FileNotFoundError:
        raise ConfigError(f"GH Archive file {f.source}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"GH Archive file {f.source}: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"GH Archive file {f.source}: cannot read it ({exc.strerror or exc})") from None
    if magic != b"\x1f\x8b":
        raise ConfigError(f"GH Archive file {f.source}: not a gzip file")


class _Run:
    def __init__(self, root: DataRoot, config: GhArchiveConfig, selection: Selection, crawl_id: str,
                 progress: ProgressFn):
        self.root, self.cfg, self.sel, self.crawl_id, self.progress = root, config, selection, crawl_id, progress
        self.filter = LineFilter(config.event_types)
        self.extra = frozenset(e.lower() for e in config.extra_bot_logins)
        self.summary = GhArchiveSummary(crawl_id, root.url)
        self.http = _Http(config)

    def file(self, f: HourFile) -> FileOutcome:
        """Stream one hour file into parts; retried from scratch on network errors."""
        last: RetryableError | None = None
        for attempt in range(self.cfg.max_attempts if f.kind != "local" else 1):
            try:
                return self._stream(f)
            except RetryableError as exc:
                last = exc
                log.warning("%s: %s (attempt %d)", f.name, exc, attempt + 1)
                time.sleep(min(self.cfg.backoff_base_s * 2 ** attempt, 60))
        assert last is not None
        raise last

    def _stream(self, f: HourFile) -> FileOutcome:
        t0 = time.monotonic()
        out = FileOutcome(f.name, f.source, "done")
        parts = _Parts(self.root, self.crawl_id, f.stem, self.cfg.flush_rows, self.cfg.flush_mb << 20)
        counts = _Counts()
        skipped: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        read, close = _open(f, self.http)
        classify = self.filter.classify
        loads = orjson.loads
        sel = None if self.sel.all else self.sel
        drop_bots, extra, fallback = self.cfg.drop_bots, self.extra, f.hour
        add = parts.add
        n = matched = 0

        def selected(hit: tuple[Any, str | None] | None) -> Any:
            """The repository's canonical name, or _SKIP (counted by reason) when not selected."""
            if hit is None:
                skipped["repo_not_selected"] += 1
                return _SKIP
            canonical, reason = hit
            if reason:
                skipped[f"repo_{reason}"] += 1
                return _SKIP
            return canonical

        try:
            for line in gzip_lines(read, counts):
                n += 1
                if n % _PROGRESS_EVERY == 0:
                    self.progress("progress", f.name, {"events": n, "matched": matched})
                etype, rid, rname = classify(line)
                if etype is None:
                    if line.strip():
                        skipped["other_event_type"] += 1
                    else:
                        n -= 1  # blank line
                    continue
                canonical = None
                if sel is not None and rname is not None:
                    canonical = selected(sel.lookup(rid, rname))
                    if canonical is _SKIP:
                        continue
                try:
                    ev = loads(line)
                except orjson.JSONDecodeError:
                    mapped = reject_line(f"{f.name}:{n}", "bad_json", line, fallback)
                else:
                    if sel is not None and rname is None:  # Timeline-format line: select on the parsed event
                        name, rid2 = event_repo(ev) if isinstance(ev, dict) else (None, None)
                        canonical = selected(sel.lookup(rid2, name.encode()) if name else None)
                        if canonical is _SKIP:
                            continue
                    mapped = map_event(ev, repo=canonical, drop_bots=drop_bots, extra_bots=extra,
                                       fallback_at=fallback, key=f"{f.name}:{n}")
                matched += 1
                size = len(line)
                for table, row in mapped.rows:
                    add(table, row, size)
                for reason in mapped.dropped:
                    dropped[reason] += 1
            parts.flush()
        except FileFailed as exc:
            # Rows flushed before the damage stay (they are valid); the file is not marked done.
            out.status, out.reason, out.detail = "failed", exc.reason, exc.detail
        finally:
            close()
        s = self.summary  # a network failure raised above: its attempt is not counted
        s.events_read += n
        s.events_matched += matched
        s.bytes_compressed += counts.compressed
        s.bytes_json += counts.json
        s.skipped.update(skipped)
        s.dropped.update(dropped)
        s.rows.update(parts.written)
        out.events, out.matched = n, matched
        out.rows = dict(sorted(parts.written.items()))
        out.seconds = round(time.monotonic() - t0, 3)
        return out


def check_sources(config: GhArchiveConfig, sources: Iterable[str] = ()) -> list[HourFile]:
    """The hour files ``sources`` name, after the checks that need no reading: a missing, unreadable
    or non-gzip local file, an explicit URL that is not there, or nothing at all is a one-line
    ``ConfigError`` (the CLI calls this before any work)."""
    files = plan(config, sources)
    if not files:
        raise ConfigError("nothing to ingest from GH Archive: give files, URLs or an hour range "
                          "(or [gharchive] start/end)")
    http = _Http(config)
    for f in files:
        if f.kind == "local" and f.explicit:
            _check_local(f)
        elif f.kind == "http" and f.explicit:
            try:
                http.head(f)
            except _Missing as exc:
                raise ConfigError(f"GH Archive URL {f.source}: not found ({exc})") from None
            except FileFailed as exc:
                raise ConfigError(f"GH Archive URL {f.source}: {exc.reason}") from None
    return files


def ingest_gharchive(data_root: str | os.PathLike[str], config: GhArchiveConfig, sources: Iterable[str] = (), *,
                     repos: Iterable[str] | None = None, crawl_id: str | None = None,
                     progress: ProgressFn | None = None) -> GhArchiveSummary:
    """Stream GH Archive hour files into ``raw/{issues,pulls,comments,rejects}`` of ``data_root``.

    ``sources``: local paths, globs, directories, URLs, or ``YYYY-MM-DD[-H][..YYYY-MM-DD[-H]]`` hour
    ranges (expanded with ``config.base_url``); ``config.start``/``end`` add a range. ``repos``
    overrides ``config.repos``/``repos_file``. Completed files (``raw/_state/gharchive.json``) are
    skipped. Raises ``ConfigError`` for bad input before writing anything, ``RetryableError`` when
    the network fails after retries; per-file failures are in the summary."""
    t0 = time.monotonic()
    progress = progress or (lambda event, name, info: None)
    root = DataRoot(data_root)
    files = check_sources(config, sources)
    run = _Run(root, config, build_selection(root, config, repos), crawl_id or new_crawl_id(), progress)

    try:
        state = root.read_json(STATE) or {}
    except ValueError:
        raise ConfigError(f"GH Archive state file {root.path(STATE)} is not valid JSON "
                          "(remove it to ingest every file again)") from None
    state.setdefault("version", 1)
    done: dict[str, Any] = state.setdefault("files", {})
    failed: dict[str, Any] = state.setdefault("failed", {})
    summary = run.summary
    for f in files:
        try:
            if f.size is None:
                _stat(f, run.http)
        except _Missing as exc:
            summary.files.append(FileOutcome(f.name, f.source, "missing", "not_found", str(exc)))
            progress("missing", f.name, {})
            continue
        except FileFailed as exc:
            outcome = FileOutcome(f.name, f.source, "failed", exc.reason, exc.detail)
        else:
            prev = done.get(f.name)
            if prev and prev.get("size") == f.size and (not f.etag or not prev.get("etag") or prev["etag"] == f.etag):
                summary.files.append(FileOutcome(f.name, f.source, "skipped", "done_before", rows=prev.get("rows", {})))
                progress("skipped", f.name, {})
                continue
            progress("start", f.name, {"size": f.size})
            try:
                outcome = run.file(f)
            except _Missing as exc:
                summary.files.append(FileOutcome(f.name, f.source, "missing", "not_found", str(exc)))
                continue
        summary.files.append(outcome)
        now = datetime.now(UTC).isoformat()
        if outcome.status == "done":
            done[f.name] = {"source": f.source, "size": f.size, "etag": f.etag, "events": outcome.events,
                            "rows": outcome.rows, "crawl_id": run.crawl_id, "completed_at": now}
            failed.pop(f.name, None)
        else:
            failed[f.name] = {"source": f.source, "reason": outcome.reason, "detail": outcome.detail,
                              "crawl_id": run.crawl_id, "at": now}
            log.warning("GH Archive file %s failed: %s %s", f.name, outcome.reason, outcome.detail or "")
        root.write_json(STATE, state)
        progress("done", f.name, {"outcome": outcome})
    summary.seconds = time.monotonic() - t0
    return summary


__all__ = ["FileFailed", "GhArchiveSummary", "HourFile", "Selection", "build_selection", "gzip_lines",
           "hour_url", "ingest_gharchive", "plan"]
