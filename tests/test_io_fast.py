"""Tests for the loader's fast paths (patterns.io): checks by distinct value, Arrow codes.

Oracles: the same export loaded with every fast path switched off (the per-row checks they
replace), ``pandas.factorize`` of the concatenated columns, and known-truth inputs (a
repeated column is encoded, a distinct one is not; a cell over the field limit is found).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from patterns import io as pio
from patterns.io import load_export

FRAMES = ("events", "checkins", "quarantine", "notices", "sources")
PLAIN = ("manifest", "timezones", "partners", "dropped_columns", "rows_in", "rows_in_by_couple")


def _messy_export(root: Path, n: int, seed: int) -> Path:
    """A messy export (padded and NFD ids, unknown codes, NA strings, decimal commas,
    bad and out-of-range numbers, odd booleans, naive and aware times, manifest zones and
    partner lists for some couples) with few distinct values per column."""
    rng = np.random.default_rng(seed)

    def pick(pool):
        return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]

    couples = ["c1", " c1", "c2", "c3 ", "Zoe\u0308", "Zoë", "", "NA", "c4", "  "]
    actors = ["a", "b", " a", "x", "", "Zoë-a", "Zoe\u0308-a", "NA"]
    codes = ["bid", "Toward ", "AWAY", "away", "foo", "", "a whole sentence here", "bid!"]
    nums = ["0.5", "0,5", " 1 ", "", "abc", "-1", "2", "NA", "1e-1", "inf"]
    bools = ["yes", "No", "0", "1", "maybe", "", "TRUE", " t "]
    body = ["true", "false", "2", "5", "x", "", "0,5"]
    hours = rng.integers(0, 24 * 60, n)
    naive = [f"2026-03-29T{h // 60:02d}:{h % 60:02d}:00" for h in hours]
    aware = [f"2026-03-{1 + h % 28:02d}T{h // 60:02d}:{h % 60:02d}:00+01:00" for h in hours]
    ts = np.where(rng.random(n) < 0.5, np.array(naive, object), np.array(aware, object))
    ts[rng.random(n) < 0.02] = "not a time"
    events = pd.DataFrame(
        {
            "couple_id": pick(couples),
            "ts": ts,
            "actor": pick(actors),
            "code": pick(codes),
            "bid_id": [f"b{i}" for i in rng.integers(0, n, n)],
            "bid_type": pick(["humor", " Humor", "", "support"]),
            "intensity": pick(nums),
            "topic": pick(["money", "", "chores ", "NA"]),
            "note": pick(["", "hello", "  ", "NA", "Zoe\u0308"]),
        }
    )
    clean = ["c1", "2026-03-02T10:00:00+01:00", "a", "bid", "bx", "humor", "0.5", "money", ""]
    dup = pd.DataFrame([clean] * 3, columns=events.columns)  # two copies of a clean row
    events = pd.concat([events, dup], ignore_index=True)
    checkins = pd.DataFrame(
        {
            "couple_id": pick(couples),
            "partner": pick(actors),
            "ts": pick(naive + aware),
            "connection": pick([*nums, "8", "11"]),
            "conflict": pick(bools),
            "tension": pick(body),
            "time_together_min": pick(["30", "2000", "", "x"]),
            "prompt": pick(["", "Why?"]),
            "answer": pick(["", "Because."]),
        }
    )
    root.mkdir()
    events["app_version"] = "2.1"  # not in the contract: dropped (and listed)
    checkins["app_version"] = "2.1"
    events.to_csv(root / "events.csv", index=False)
    checkins.to_csv(root / "checkins.csv", index=False)
    manifest = {
        "couples": [
            {"couple_id": "c1", "timezone": "Europe/Amsterdam", "partners": ["a", "b"]},
            {"couple_id": "Zoë", "timezone": "America/New_York"},
            {"couple_id": "c2"},
            {"couple_id": "c3"},
        ]
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


MAPPING = {
    "na_values": ["NA"],
    "recode": {"events": {"code": {"away": "turn_away"}}},
    "scales": {"connection": [0, 10]},
}


def _same(a, b) -> None:
    for k in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, k), getattr(b, k), check_exact=True)
        assert dict(getattr(a, k).attrs) == dict(getattr(b, k).attrs)
    for k in PLAIN:  # (dict order too: it is the order users iterate in)
        assert repr(getattr(a, k)) == repr(getattr(b, k)), k


@pytest.mark.parametrize("seed", [0, 1])
def test_by_value_checks_equal_per_row_checks(tmp_path, monkeypatch, seed):
    root = _messy_export(tmp_path / "x", 3000, seed)
    fast = load_export(root, mapping=MAPPING)
    # every problem kind above is present, so the comparison covers each detail string
    reasons = set(fast.quarantine["reason"])
    assert {"unknown_code", "bad_number", "out_of_range", "bad_bool", "missing_required"} <= (
        reasons
    )
    assert {"unknown_couple", "unknown_partner", "bad_timestamp", "duplicate"} <= reasons
    assert len(fast.notices)  # naive 2026-03-29 02:xx in Amsterdam: the DST gap
    # cardinality judged on a sample (a sample smaller than the table)
    monkeypatch.setattr(pio, "_ENCODE_SAMPLE", 256)
    sampled = load_export(root, mapping=MAPPING)
    calls = []
    real = pio._encode
    monkeypatch.setattr(pio, "_encode", lambda s: calls.append(real(s)) or None)
    per_row = load_export(root, mapping=MAPPING)
    assert any(c is not None for c in calls)  # the fast path was on in the first loads
    _same(fast, per_row)
    _same(sampled, per_row)


def test_encode_only_repeating_columns(monkeypatch):
    monkeypatch.setattr(pio, "_ENCODE_SAMPLE", 1024)
    n = 20_000
    rep = pd.Series(np.array(["a", "b", " c", None], dtype=object)[np.arange(n) % 4], dtype="str")
    idx, values = pio._encode(rep)
    assert values.tolist()[:3] == ["a", "b", " c"] and pd.isna(values.iloc[3])
    pd.testing.assert_series_equal(
        values.iloc[idx].reset_index(drop=True), rep.astype("string"), check_exact=True
    )
    distinct = pd.Series([f"id{i}" for i in range(n)], dtype="str")
    assert pio._encode(distinct) is None
    assert pio._encode(pd.Series([1.0, 2.0])) is None  # typed columns stay per row


def test_factorize_equals_pandas_over_chunked_columns():
    chunks = [["b", None, "a"], ["c", "a", "b"], [], [None, "d"]]
    s1 = pd.Series(
        pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.large_string())),
        copy=False,
    )
    s2 = pd.Series(["d", "e", None, "b"], dtype="string")
    codes, uniques = pio._factorize([s1, s2])
    want_codes, want_uniques = pd.factorize(pd.concat([s1, s2], ignore_index=True))
    np.testing.assert_array_equal(codes, want_codes)
    assert list(uniques) == list(want_uniques)
    empty_codes, empty_uniques = pio._factorize([pd.Series([], dtype="string")])
    assert len(empty_codes) == 0 and len(empty_uniques) == 0


def test_cells_fit_reads_chunk_sizes():
    small = pa.chunked_array([["x" * 100] * 10, ["y"]], type=pa.large_string())
    assert pio._cells_fit(small)
    big = pa.chunked_array([["x"], ["y" * (pio.MAX_FIELD_BYTES + 1)]], type=pa.large_string())
    assert not pio._cells_fit(big)
    assert not pio._cells_fit(pa.array([1, 2]))  # not text: sizes unknown, measure cells


def test_large_loads_use_the_system_pool_and_restore_the_default(tmp_path, monkeypatch):
    default = pa.default_memory_pool().backend_name
    seen = []
    with pio._system_pool():
        seen.append(pa.default_memory_pool().backend_name)
        with pio._system_pool():  # nested (or concurrent) loads restore once, at the end
            pass
        seen.append(pa.default_memory_pool().backend_name)
    assert seen == ["system", "system"]
    assert pa.default_memory_pool().backend_name == default
    with pytest.raises(pio.ExportError, match="does not exist"):
        load_export(tmp_path / "nothing here")
    assert pa.default_memory_pool().backend_name == default  # also after an error
    root = _messy_export(tmp_path / "x", 50, 0)
    pools = []
    real_load = pio._load

    def spy(*args, **kwargs):
        pools.append(pa.default_memory_pool().backend_name)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pio, "_load", spy)
    load_export(root)  # a small export keeps the default pool
    size = sum(f.stat().st_size for f in root.iterdir())
    monkeypatch.setattr(pio, "_SYSTEM_POOL_MIN_BYTES", size)
    assert pio._large(root) and pio._large(root / "events.csv") is (
        (root / "events.csv").stat().st_size >= size
    )
    load_export(root)  # a large one loads with the system allocator
    assert pools == [default, "system"]
    assert pa.default_memory_pool().backend_name == default
    assert not pio._large(tmp_path / "nothing here") and not pio._large(5)


def test_memory_mapped_tables_load_the_same(tmp_path, monkeypatch):
    root = _messy_export(tmp_path / "x", 400, 3)
    odd = tmp_path / "odd"
    odd.mkdir()
    header = "couple_id;partner;ts;connection\n"
    # cp1252 (not UTF-8), a BOM, and a ragged row: the decoding and exact-row paths
    (odd / "checkins.csv").write_bytes(
        (header + "c\xe9;a;2026-05-01 21:00;5\nc2;b;2026-05-01 21:05;7;extra\n").encode("cp1252")
    )
    (odd / "events.csv").write_bytes(
        b"\xef\xbb\xbfcouple_id,ts,actor,code\nc1,2026-05-01T10:00:00Z,a,bid\n"
    )
    copied = [load_export(root, mapping=MAPPING), load_export(odd, timezone="UTC")]
    monkeypatch.setattr(pio, "_MMAP_MIN_BYTES", 1)
    mapped = [load_export(root, mapping=MAPPING), load_export(odd, timezone="UTC")]
    for a, b in zip(copied, mapped, strict=True):
        _same(a, b)
    assert set(mapped[1].sources["encoding"]) == {"cp1252", "utf-8-sig"}
    assert "ragged_row" in set(mapped[1].quarantine["reason"])
    assert (mapped[1].sources["sha256"] == copied[1].sources["sha256"]).all()


def test_parquet_dictionaries_load_like_plain_strings(tmp_path, monkeypatch):
    root = _messy_export(tmp_path / "x", 2000, 5)
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    ev = pd.read_csv(root / "events.csv", dtype=str, keep_default_na=False)
    ev.loc[::7, "couple_id"] = None  # nulls inside a dictionary column
    # pandas categoricals with unused categories, not in order of appearance
    ev["code"] = pd.Categorical(ev["code"], categories=["zzz", *sorted(set(ev["code"]))[::-1]])
    present = ev["couple_id"].dropna()
    ids = sorted(set(present))[::-1]
    ev["couple_id"] = pd.Categorical(ev["couple_id"], categories=["unused", *ids])
    assert ids != list(pd.unique(present))
    ev = ev.rename(columns={"actor": "Actor"})  # matched case-insensitively
    ev.to_parquet(pq_dir / "events.parquet", row_group_size=300)  # several dictionaries
    ck = pd.read_csv(root / "checkins.csv", dtype=str, keep_default_na=False)
    ck.loc[5, "partner"] = "p" * (pio.MAX_FIELD_BYTES + 1)  # over the limit: stays text
    ck.to_parquet(pq_dir / "checkins.parquet")
    (pq_dir / "manifest.json").write_text((root / "manifest.json").read_text())
    fast = load_export(pq_dir, mapping=MAPPING)
    assert pio._parquet_dictionary_columns(
        (pq_dir / "events.parquet").read_bytes(), "events", {}
    ) == ["Actor", "intensity"]  # couple_id and code already are categoricals
    assert "field_too_large" in set(fast.quarantine["reason"])
    monkeypatch.setattr(pio, "_parquet_dictionary_columns", lambda *a: [])
    monkeypatch.setattr(pio, "_text_categories", lambda *a, **k: False)
    plain = load_export(pq_dir, mapping=MAPPING)
    _same(fast, plain)


def _threads(monkeypatch, on: bool) -> None:
    """Force the loader's threaded paths on (any table size, 2 usable CPUs) or off."""
    monkeypatch.setattr(pio, "_usable_cpus", lambda: 2 if on else 1)
    for name in (
        "_COLUMN_THREADS_MIN_ROWS",
        "_DIGEST_THREAD_MIN_BYTES",
        "_PARSE_THREADS_MIN_BYTES",
    ):
        monkeypatch.setattr(pio, name, 0 if on else 1 << 62)


@pytest.mark.parametrize("seed", [0, 4])
def test_threaded_load_equals_one_thread(tmp_path, monkeypatch, seed):
    """Columns checked on a thread pool, the Arrow parse on its pool and the SHA-256 in a
    background thread give the same export as one thread: the same values, the same
    problems, the same digests (checked against hashlib)."""
    import hashlib

    root = _messy_export(tmp_path / "x", 3000, seed)
    _threads(monkeypatch, False)
    one = load_export(root, mapping=MAPPING)
    _threads(monkeypatch, True)
    calls = []
    real = pio._coerce_column
    monkeypatch.setattr(
        pio, "_coerce_column", lambda *a: calls.append(threading.current_thread().name) or real(*a)
    )
    found = []
    real_found = pio._duplicate_candidates
    monkeypatch.setattr(
        pio,
        "_duplicate_candidates",
        lambda *a: found.append(threading.current_thread().name) or real_found(*a),
    )
    threaded = load_export(root, mapping=MAPPING)
    # events' columns on the column pool; check-ins' on the second file's own thread
    assert sum(n.startswith("patterns-load-col") for n in calls) == 9
    assert sum(n.startswith("patterns-load-src") for n in calls) == 9
    # the duplicate candidates of both tables beside the other cross-table checks
    assert len(found) == 2 and all(n.startswith("patterns-load-dup") for n in found)
    _same(one, threaded)
    assert repr(threaded.dropped_columns) == repr(
        {"events": ["app_version"], "checkins": ["app_version"]}
    )
    assert len(threaded.quarantine) > 100  # many problems, in many columns: order matters
    for f, digest in zip(threaded.sources["file"], threaded.sources["sha256"], strict=True):
        assert digest == hashlib.sha256((root / f).read_bytes()).hexdigest()


def test_threaded_load_raises_the_first_error(tmp_path, monkeypatch):
    """An error in a column checked on the pool is raised as the first error in column
    order, as when the columns are checked one by one."""
    root = _messy_export(tmp_path / "x", 500, 2)
    bad = {**MAPPING, "scales": {"connection": [10, 0]}}  # an inverted scale: an error
    messages = []
    for on in (False, True):
        _threads(monkeypatch, on)
        with pytest.raises(pio.ExportError, match="scale") as err:
            load_export(root, mapping=bad)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    # errors in both files: the events file's (checked first when one by one) is raised,
    # though the check-ins file is checked on another thread meanwhile
    both = {**bad, "recode": {"events": {"code": "not a mapping"}}}
    for on in (False, True):
        _threads(monkeypatch, on)
        with pytest.raises(pio.ExportError, match=r"recode\.code. must be a mapping"):
            load_export(root, mapping=both)
    # two errors in the events table, on the pool: a column's comes before the times'
    # (parsed on the pool too, possibly first), as one by one
    late = {"scales": {"intensity": [10, 0]}, "ts_offset": {"column": "nope", "unit": "s"}}
    for mapping, match in ((late, "scale for intensity"), ({**late, "scales": {}}, "ts_offset")):
        for on in (False, True):
            _threads(monkeypatch, on)
            with pytest.raises(pio.ExportError, match=match):
                load_export(root, mapping=mapping)
    assert not [t for t in threading.enumerate() if t.name.startswith("patterns-")]


def test_failed_load_leaves_no_thread_and_digest_errors_surface(tmp_path, monkeypatch):
    """A load that fails after files were hashed in the background waits for the hashing
    (no thread keeps reading a file); an error in the hashing thread is raised, not
    turned into the digest of nothing."""
    root = _messy_export(tmp_path / "x", 300, 1)
    (root / "checkins.parquet").write_bytes(b"PAR1 not really parquet")
    _threads(monkeypatch, True)
    started, threads = [], []
    real = pio._Digest.__init__

    def spy(self, data):
        real(self, data)
        started.append(self)
        threads.append(self._thread)

    monkeypatch.setattr(pio._Digest, "__init__", spy)
    with pytest.raises(pio.ExportError, match="not a readable Parquet"):
        load_export(root)
    assert len(started) >= 2
    # every file hashed on its own thread (thresholds off), so there was something to wait for
    assert all(t is not None for t in threads)
    assert all(d._thread is None for d in started)  # each one waited for
    assert not any(t.is_alive() for t in threads)
    assert not [t for t in threading.enumerate() if t.name == "patterns-sha256"]

    class Unhashable:  # has a length, but no bytes to hash
        def __len__(self):
            return 1 << 30

    with pytest.raises(TypeError):
        pio._Digest(Unhashable()).hexdigest()


def test_loads_off_the_main_thread_start_no_threads(tmp_path, monkeypatch):
    """Called from another thread (a Dask task, a caller's pool), the load checks its
    columns on that thread: no pools within pools."""
    root = _messy_export(tmp_path / "x", 500, 3)
    _threads(monkeypatch, True)
    names, out = [], {}
    real = pio._coerce_column
    monkeypatch.setattr(
        pio, "_coerce_column", lambda *a: names.append(threading.current_thread().name) or real(*a)
    )
    worker = threading.Thread(
        target=lambda: out.update(exp=load_export(root, mapping=MAPPING)), name="caller"
    )
    worker.start()
    worker.join()
    assert set(names) == {"caller"}
    _threads(monkeypatch, False)
    _same(out["exp"], load_export(root, mapping=MAPPING))


@pytest.mark.parametrize("pattern", ["none", "all", "first", "last", "chunk ends", "random"])
def test_keep_rows_equals_a_boolean_filter_and_reuses_untouched_chunks(pattern):
    sizes = [5, 1, 0, 8, 3]  # chunks of an Arrow text column, one empty
    n = sum(sizes)
    chunks = [[f"v{i}-{j}" if (i + j) % 4 else None for j in range(k)] for i, k in enumerate(sizes)]
    text = pa.chunked_array(chunks, type=pa.large_string())
    f = pd.DataFrame(
        {
            "text": pd.Series(pd.arrays.ArrowStringArray(text), copy=False),
            "str": pd.Series([f"s{i}" if i % 3 else None for i in range(n)], dtype="str"),
            "num": np.arange(n, dtype=float),
            "code": pd.Categorical(["bid", "away"] * (n // 2) + ["bid"]),
            "flag": pd.array([True, None] * (n // 2) + [False], dtype="boolean"),
            "ts": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
        }
    )
    zones = pio.TimezoneMap({"c1": "UTC"})
    f.attrs["timezones"] = zones
    keep = {
        "none": np.zeros(n, bool),
        "all": np.ones(n, bool),
        "first": np.arange(n) != 0,
        "last": np.arange(n) != n - 1,
        "chunk ends": ~np.isin(np.arange(n), [4, 5, 6, 13, 14]),
        "random": np.random.default_rng(3).random(n) < 0.6,
    }[pattern]
    got = pio._keep_rows(f, keep)
    want = f[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(f.dtypes)
    assert got.attrs["timezones"] is zones  # shared, not copied
    # a chunk with every row kept is the same buffer, not a copy
    before = text.chunks
    after = got["text"].array.__arrow_array__().chunks
    start, reused = 0, 0
    for ch in before:
        if len(ch) and keep[start : start + len(ch)].all():
            data = ch.buffers()[2].address
            assert any(a.buffers()[2].address == data for a in after if len(a))
            reused += 1
        start += len(ch)
    assert reused == sum(
        1 for i, k in enumerate(sizes) if k and keep[sum(sizes[:i]) : sum(sizes[: i + 1])].all()
    )


def _ts_export(root: Path, ts: list[str]) -> Path:
    root.mkdir(parents=True)
    n = len(ts)
    pd.DataFrame(
        {
            "couple_id": ["c1"] * n,
            "ts": ts,
            "actor": ["a", "b"] * (n // 2) + ["a"] * (n % 2),
            "code": ["toward"] * n,
        }
    ).to_csv(root / "events.csv", index=False)
    (root / "manifest.json").write_text(
        json.dumps({"couples": [{"couple_id": "c1", "timezone": "Europe/Berlin"}]})
    )
    return root


@pytest.mark.parametrize("kind", ["aware", "naive"])
def test_a_few_odd_times_leave_only_their_pieces_to_the_general_parser(tmp_path, monkeypatch, kind):
    """One bad or other-form time used to send the whole column to the (slow) general
    parser; now the cast reads the rest, and the result equals the general parser's."""
    rng = np.random.default_rng(7)
    n = 20_000
    t = pd.Timestamp("2026-03-01") + pd.to_timedelta(np.sort(rng.integers(0, 50 * 86400, n)), "s")
    fmt = "%Y-%m-%dT%H:%M:%S+01:00" if kind == "aware" else "%Y-%m-%dT%H:%M:%S"
    ts = list(t.strftime(fmt))
    odd = [
        "not a time",
        "2026-13-01T10:00:00+01:00",
        "2026-03-29T02:30:00",  # naive, in the DST gap
        "2026-03-05T10:00:00+01:00",
        "1767225600",
        "13/03/2026 10:00",
        "2026-03-05 10:00 +01:00",
        "",
    ]
    at = rng.choice(n, len(odd), replace=False)
    for i, v in zip(at, odd, strict=True):
        ts[i] = v
    root = _ts_export(tmp_path / "x", ts)
    general = pio._parse_general
    seen = []

    def spy(s, todo, *args):
        seen.append(int(todo.sum()))
        return general(s, todo, *args)

    monkeypatch.setattr(pio, "_parse_general", spy)
    monkeypatch.setattr(pio, "_CAST_LEAF", 16)
    fast = load_export(root)
    assert len(seen) == 1 and len(odd) - 1 <= seen[0] <= 16 * len(odd)  # ("" is missing)
    seen.clear()
    monkeypatch.setattr(pio, "_arrow_iso", lambda s, miss: None)  # the general parser only
    slow = load_export(root)
    assert seen == [n - 1]
    for name in ("events", "quarantine", "notices"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)
    assert set(fast.quarantine["reason"]) >= {"bad_timestamp", "missing_required"}


def test_arrow_iso_cuts_failing_chunks_down_and_gives_up_on_mixed_columns(monkeypatch):
    monkeypatch.setattr(pio, "_CAST_LEAF", 4)
    good = [f"2026-03-01T10:{m:02d}:00+01:00" for m in range(40)]
    chunks = [good[:16], good[16:17], good[17:40]]
    chunks[0][5] = "bad"
    chunks[2][22] = "2026-03-01T11:00:00"  # naive among aware: left to the general parser
    s = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.large_string())))
    miss = np.zeros(40, bool)
    values, aware, left = pio._arrow_iso(s, miss)
    assert aware and values.dtype == "datetime64[ns]"
    assert left[5] and left[39] and 2 <= left.sum() <= 8  # pieces of at most 4 rows
    assert np.isnat(values[left]).all()
    want = pd.to_datetime(pd.Series(good)[~left], utc=True).dt.tz_localize(None).to_numpy()
    np.testing.assert_array_equal(values[~left], want.astype("datetime64[ns]"))
    miss[5] = True  # a missing value is not a failure
    _, _, left2 = pio._arrow_iso(s, miss)
    assert not left2[5] and left2[39]
    mixed = pd.Series([g if i % 2 else g[:-6] for i, g in enumerate(good)], dtype="string")
    assert pio._arrow_iso(mixed, np.zeros(40, bool)) is None  # half naive: general parser
    # samples read as aware, but a later chunk is mixed: too many rows left, give up
    alternating = [g if i % 2 else g[:-6] for i, g in enumerate(good * 5)]
    late = pa.chunked_array([good[:16], alternating], type=pa.large_string())
    late_s = pd.Series(pd.arrays.ArrowStringArray(late))
    assert pio._arrow_iso(late_s, np.zeros(len(late_s), bool)) is None


_HEADER = "couple_id,ts,actor,code,bid_id,bid_type,intensity,topic,note"


def _ragged_lines(layout: str) -> tuple[list[str], str, dict | None]:
    """Events lines (header first) with ragged rows, their line ending, and a mapping."""
    rows = [
        f"c1,2026-03-01T10:{i % 60:02d}:{i % 59:02d}+01:00,c1-{'ab'[i % 2]},toward,b{i},,0.5,,"
        for i in range(400)
    ]
    rows[0] += ",surplus"  # first row, too many fields
    rows[-1] = "c1,2026-03-01T10:00:00+01:00"  # last row, too few
    rows[10] = 'c1,"x\ny",c1-a'  # a quoted newline inside a short row
    rows[11] = '"c1","2026-03-01T11:00:00+01:00",c1-a,toward,"b,11",,,,"a, b",more'
    rows[200] = "   "  # spaces only: one field
    if layout == "blank lines":
        rows.insert(50, "")
        rows.insert(300, "")
    return (
        [_HEADER, *rows],
        "\r\n" if layout == "crlf" else "\n",
        ({"skip_rows": 3} if layout == "skip rows" else None),
    )


@pytest.mark.parametrize("layout", ["plain", "crlf", "blank lines", "skip rows"])
@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("placed_by", ["slices", "one gather"])
def test_ragged_rows_are_placed_by_pyarrow_as_the_csv_module_reads_them(
    tmp_path, monkeypatch, layout, threads, placed_by
):
    """A few ragged rows no longer send the whole file to Python's csv module: pyarrow
    skips them, and they are put back at their places (read by the csv module, by slices
    or, for many, by one gather); the export equals the csv module's reading."""
    if placed_by == "one gather":
        monkeypatch.setattr(pio, "_RAGGED_SLICES", 0)
    lines, nl, mapping = _ragged_lines(layout)
    root = tmp_path / "x"
    root.mkdir()
    (root / "events.csv").write_bytes((nl.join(lines) + nl).encode())
    (root / "manifest.json").write_text(
        json.dumps({"couples": [{"couple_id": "c1", "timezone": "Europe/Berlin"}]})
    )
    if threads:
        monkeypatch.setattr(pio, "_PARSE_THREADS_MIN_BYTES", 0)
    placed = []
    real = pio._place_ragged

    def spy(*args):
        out = real(*args)
        placed.append(out is not None)
        return out

    monkeypatch.setattr(pio, "_place_ragged", spy)
    fast = load_export(root, mapping=mapping)
    assert placed == [True]
    monkeypatch.setattr(pio, "_RAGGED_MAX", -1)  # the csv module reads the whole file
    exact = load_export(root, mapping=mapping)
    assert placed == [True, False]
    for name in ("events", "checkins", "quarantine", "notices"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(exact, name), check_exact=True)
    assert fast.rows_in == exact.rows_in
    q = fast.quarantine
    ragged = q.loc[q["reason"] == "ragged_row", "row"].tolist()
    # blank lines are not rows; rows skipped by skip_rows keep their numbers
    want = [1, 11, 12, 201, 400] if layout != "skip rows" else [11, 12, 201, 400]
    assert ragged == want


def test_a_ragged_row_with_a_cell_over_the_csv_modules_limit_loads(tmp_path, monkeypatch):
    """The csv module reads a ragged row's text with its default field limit (131,072
    characters): a longer cell made that read raise ``_csv.Error`` out of load_export.
    Such a file is read by the csv path, which lifts the limit, as before."""
    import csv

    lines, nl, _ = _ragged_lines("plain")
    lines[20] = "c1,2026-03-01T10:00:00+01:00,c1-a,toward,b19,,0.5,," + "x" * 200_000 + ",extra"
    root = tmp_path / "x"
    root.mkdir()
    (root / "events.csv").write_bytes((nl.join(lines) + nl).encode())
    (root / "manifest.json").write_text(
        json.dumps({"couples": [{"couple_id": "c1", "timezone": "Europe/Berlin"}]})
    )
    limit = csv.field_size_limit()
    fast = load_export(root)
    assert csv.field_size_limit() == limit
    monkeypatch.setattr(pio, "_RAGGED_MAX", -1)  # the csv module reads the whole file
    exact = load_export(root)
    for name in ("events", "checkins", "quarantine", "notices"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(exact, name), check_exact=True)
    q = fast.quarantine
    assert q.loc[q["reason"] == "ragged_row", "row"].tolist() == [1, 11, 12, 20, 201, 400]


@pytest.mark.parametrize("ragged", [False, True])
def test_skip_rows_count_records_not_blank_lines_as_the_csv_path_does(
    tmp_path, monkeypatch, ragged
):
    """``skip_rows`` skips records: pyarrow's ``skip_rows_after_names`` counted a blank
    line among them as a row, so one data row too few was skipped (and every row number
    was one too high) than on the csv path, which the same file took when it had a
    ragged row."""
    lines, nl, _ = _ragged_lines("plain")
    if not ragged:
        lines = [ln for ln in lines if ln.count(",") == _HEADER.count(",")]
    lines[1:1] = ["", "Question text,,,,,,,,", "", '"{""ImportId"": 1}",,,,,,,,']
    root = tmp_path / "x"
    root.mkdir()
    (root / "events.csv").write_bytes((nl.join(lines) + nl).encode())
    (root / "manifest.json").write_text(
        json.dumps({"couples": [{"couple_id": "c1", "timezone": "Europe/Berlin"}]})
    )
    mapping = {"skip_rows": 2}
    fast = load_export(root, mapping=mapping)
    monkeypatch.setattr(pio, "_arrow_csv", lambda *a: None)  # the csv module's reading
    exact = load_export(root, mapping=mapping)
    for name in ("events", "checkins", "quarantine", "notices"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(exact, name), check_exact=True)
    assert fast.rows_in["events"] == len(lines) - 1 - 4  # header, 2 blank lines, 2 skipped
    q = fast.quarantine
    assert q.loc[q["reason"] == "ragged_row", "row"].tolist() == (
        [3, 13, 14, 203, 402] if ragged else []
    )


@pytest.mark.parametrize("ending", ["", "\n", "\r\n\r\n"])
def test_a_cut_off_last_line_is_placed_without_a_second_parse(tmp_path, monkeypatch, ending):
    """An export cut off while written ends with a short row: it is recognised as the last
    record, so the threaded parse (which gives no row numbers) is not repeated."""
    rows = [
        f"c1,2026-03-01T10:{i % 60:02d}:00+01:00,c1-{'ab'[i % 2]},toward,b{i},,0.5,,"
        for i in range(300)
    ]
    text = "\n".join([_HEADER, *rows, "c1,2026-03-01T11:00:00+01:00,c1-a,tow"]) + ending
    root = tmp_path / "x"
    root.mkdir()
    (root / "events.csv").write_text(text)
    (root / "manifest.json").write_text(
        json.dumps({"couples": [{"couple_id": "c1", "timezone": "Europe/Berlin"}]})
    )
    monkeypatch.setattr(pio, "_PARSE_THREADS_MIN_BYTES", 0)
    import pyarrow.csv as pacsv

    parses = []
    real = pacsv.read_csv
    monkeypatch.setattr(pacsv, "read_csv", lambda *a, **k: parses.append(1) or real(*a, **k))
    fast = load_export(root)
    assert len(parses) == 1  # no second parse for the row numbers
    monkeypatch.setattr(pio, "_RAGGED_MAX", -1)  # the csv module reads the whole file
    exact = load_export(root)
    for name in ("events", "quarantine"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(exact, name), check_exact=True)
    assert fast.quarantine[["row", "reason"]].values.tolist() == [[301, "ragged_row"]]
    # the same short row elsewhere is not the last record: parsed again for its number
    parses.clear()
    (root / "events.csv").write_text(
        "\n".join([_HEADER, rows[0], "c1,2026-03-01T11:00:00+01:00,c1-a,tow", *rows[1:]]) + "\n"
    )
    monkeypatch.setattr(pio, "_RAGGED_MAX", 10_000)
    moved = load_export(root)
    assert len(parses) == 2 and moved.quarantine["row"].tolist() == [2]
