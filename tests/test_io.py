"""Tests for patterns.io: formats, encodings, timestamps, quarantine, safety, mappings, CLI.

Oracles: Python's ``zoneinfo`` (DST rule, fold=0), ``datetime`` arithmetic (epochs, Excel
serials), pandas parsing the same values independently, ``hashlib`` (source hashes), the
same table loaded from another format, and hand-built inputs with known problems.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import itertools
import json
import os
import re
import stat
import string
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patterns import schema
from patterns.errors import ExportError
from patterns.io import Export, load_export, read_mapping

HEADER = "couple_id,ts,actor,code,bid_id,intensity,topic,note"
ROWS = [
    "007,2026-03-01T09:00:00+01:00,a,bid,b1,0.5,money,hello there",
    "007,2026-03-01T09:01:00+01:00,b,toward,b1,0.25,,",
    "007,2026-03-01T21:00:00Z,a,pursue,,1,chores,",
    "007,2026-03-02T08:00:00-05:00,b,withdraw,,0,,NA",
]
EVENTS = HEADER + "\n" + "\n".join(ROWS) + "\n"
CHECKINS = (
    "couple_id,partner,ts,connection,conflict,tension,prompt,answer\n"
    "007,a,2026-03-01T22:00:00+01:00,7,yes,2,How close?,very\n"
    "007,b,2026-03-01T22:05:00+01:00,4.5,No,true,How close?,\n"
)


def export_dir(tmp_path: Path, files: dict[str, str | bytes], manifest: dict | None = None):
    d = tmp_path / "export"
    d.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    if manifest is not None:
        (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return d


def assert_accounting(exp: Export) -> None:
    s = exp.summary()
    assert list(s.columns[:4]) == ["table", "rows_in", "rows_loaded", "rows_quarantined"]
    assert (s["rows_in"] == s["rows_loaded"] + s["rows_quarantined"]).all(), s


def reasons(exp: Export) -> list[str]:
    return sorted(set(exp.quarantine["reason"]))


# --------------------------------------------------------------------------------------
# Basic contract


def test_folder_csv_contract_dtypes_and_strings(tmp_path):
    exp = load_export(export_dir(tmp_path, {"events.csv": EVENTS, "checkins.csv": CHECKINS}))
    ev, ci = exp.events, exp.checkins
    assert [c.name for c in schema.EVENTS] == list(ev.columns)
    assert [c.name for c in schema.CHECKINS] == list(ci.columns)
    assert str(ev["ts"].dtype) == "datetime64[ns, UTC]"
    assert ev["code"].dtype == schema.CODE_DTYPE
    assert ev["couple_id"].dtype == schema.STRING
    assert ev["couple_id"].tolist() == ["007"] * 4  # "007" stays "007"
    assert ev["note"].iloc[3] == "NA"  # "NA" is not missing unless declared
    assert pd.isna(ev["note"].iloc[1])  # an empty cell is missing
    assert isinstance(ev.index, pd.RangeIndex)
    # Independent oracle: pandas parsing the same ISO strings.
    expected = pd.to_datetime([r.split(",")[1] for r in ROWS], format="ISO8601", utc=True)
    assert (ev["ts"].to_numpy() == expected.as_unit("ns").to_numpy()).all()
    assert ci["conflict"].tolist() == [True, False]
    assert ci["tension"].tolist() == [2.0, 1.0]
    assert exp.quarantine.empty
    assert exp.couples == ["007"]
    assert exp.partners == {"007": ["a", "b"]}
    assert exp.timezones == {"007": "UTC"}
    assert ev.attrs["timezones"] == ci.attrs["timezones"] == {"007": "UTC"}
    assert exp.manifest == {}
    assert_accounting(exp)


def test_absent_table_is_empty_with_contract_columns(tmp_path):
    exp = load_export(export_dir(tmp_path, {"events.csv": EVENTS}))
    assert exp.checkins.empty
    pd.testing.assert_frame_equal(
        exp.checkins.reset_index(drop=True), schema.empty_frame("checkins"), check_index_type=False
    )
    assert exp.summary().set_index("table").loc["checkins", "rows_in"] == 0


def test_sources_hashes_and_dropped_columns(tmp_path):
    text = EVENTS.replace("note\n", "note,secret_extra\n", 1)
    text = (
        "\n".join(line + ",x" if i else line for i, line in enumerate(text.strip().split("\n")))
        + "\n"
    )
    d = export_dir(tmp_path, {"events.csv": text}, manifest={"schema_version": "1"})
    exp = load_export(d)
    src = exp.sources.set_index("file")
    assert (
        src.loc["events.csv", "sha256"]
        == hashlib.sha256((d / "events.csv").read_bytes()).hexdigest()
    )
    assert src.loc["events.csv", "rows"] == 4
    assert src.loc["manifest.json", "table"] == "manifest"
    assert exp.dropped_columns == {"events": ["secret_extra"]}
    assert "secret_extra" not in exp.events.columns


# --------------------------------------------------------------------------------------
# Encodings, delimiters, formats


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_encodings_and_delimiters(tmp_path, encoding, delimiter):
    text = EVENTS.replace("hello there", "café crème").replace(",", delimiter)
    if encoding == "utf-16-be-bom":
        data = "\ufeff".encode("utf-16-be") + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    exp = load_export(export_dir(tmp_path, {"events.csv": data}))
    assert exp.events["note"].iloc[0] == "café crème"
    assert exp.events["couple_id"].iloc[0] == "007"
    assert len(exp.events) == 4 and exp.quarantine.empty
    assert exp.sources["delimiter"].iloc[0] == delimiter


def _mixed_events() -> bytes:
    """UTF-8 events by partners `zoë` and `b`, with one line pasted from a cp1252 tool."""
    rows = [r.replace(",a,", ",zoë,").replace("hello there", "très bien à toi") for r in ROWS]
    pasted = rows[2].replace("chores,", "chores,café – 5€").encode("cp1252")
    lines = [ln.encode("utf-8") for ln in (HEADER, *rows)]
    lines[3] = pasted
    return b"\n".join(lines) + b"\n"


def test_stray_cp1252_bytes_in_a_utf8_file_are_read_as_cp1252_with_a_notice(tmp_path):
    man = {"couples": [{"couple_id": "007", "partners": ["zoë", "b"]}]}
    exp = load_export(export_dir(tmp_path, {"events.csv": _mixed_events()}, man))
    assert_accounting(exp)
    # the rest of the file stays UTF-8: the partner ids match the manifest (when one byte
    # made the whole file cp1252, `zoë` became `zoÃ«` and her rows were quarantined)
    assert exp.quarantine.empty
    assert exp.events["actor"].tolist() == ["zoë", "b", "zoë", "b"]
    assert exp.events["note"].iloc[:3].tolist() == ["très bien à toi", pd.NA, "café – 5€"]
    n = exp.notices
    assert n[["row", "column", "reason"]].to_dict("records") == [
        {"row": 3, "column": "actor", "reason": "not_utf8"},
        {"row": 3, "column": "note", "reason": "not_utf8"},
    ]
    assert "caf" not in n["detail"].iloc[0]  # the detail never copies the text
    s = exp.summary().set_index("table")
    assert s.loc["events", "rows_not_utf8"] == 1 and s.loc["events", "rows_dst_adjusted"] == 0
    assert exp.sources.set_index("file").loc["events.csv", "encoding"] == "utf-8+cp1252"
    # a notice, not a problem: strict mode loads it
    assert len(load_export(tmp_path / "export", strict=True).events) == 4


def test_stray_bytes_in_header_ragged_rows_and_dropped_columns(tmp_path):
    lines = _mixed_events().split(b"\n")[:-1]
    # a dropped extra column whose name and one cell have a stray byte (no notice for it),
    # a ragged row (too many fields) with one too, and 0x81, undefined in cp1252: Latin-1
    header = lines[0] + ",r\xe9sum\xe9".encode("latin-1")
    body = b"\n".join(ln + b"," for ln in lines[1:]).replace(b"NA,", b"NA,caf\xe9")
    data = header + b"\n" + body + b"\n"
    data += "007,2026-03-03T09:00:00Z,b,bid,b9,,,caf\xe9,x,y\n".encode("latin-1")
    data += "007,2026-03-03T10:00:00Z,b,bid,b8,,,\x81,\n".encode("latin-1")
    exp = load_export(export_dir(tmp_path, {"events.csv": data}))
    assert_accounting(exp)
    assert exp.dropped_columns == {"events": ["résumé"]}
    assert exp.quarantine[["row", "reason"]].to_dict("records") == [
        {"row": 5, "reason": "ragged_row"}
    ]
    assert exp.events["note"].tolist() == ["très bien à toi", pd.NA, "café – 5€", "NA", "\x81"]
    assert exp.notices[["row", "column"]].to_dict("records") == [
        {"row": 3, "column": "actor"},
        {"row": 3, "column": "note"},
        {"row": 6, "column": "note"},
    ]


def test_no_not_utf8_notice_for_a_cell_that_is_not_loaded(tmp_path):
    # the stray byte is in a second column that maps to `note` (the first is kept) and in
    # a column the mapping's `constants` replace: the loaded cells hold no stray byte
    data = "couple_id,ts,actor,code,note,Note,topic\n007,2026-03-01T09:00:00Z,zoë,bid,ok,x,t\n"
    data = data.encode() + "007,2026-03-01T09:01:00Z,b,toward,fine,caf\xe9,caf\xe9\n".encode(
        "cp1252"
    )
    exp = load_export(
        export_dir(tmp_path, {"events.csv": data}), mapping={"constants": {"topic": "money"}}
    )
    assert exp.events[["note", "topic"]].values.tolist() == [["ok", "money"], ["fine", "money"]]
    assert exp.notices.empty
    assert exp.summary().set_index("table").loc["events", "rows_not_utf8"] == 0
    # the same stray byte in the kept column is noted
    kept = data.replace(b"fine,caf\xe9", b"caf\xe9,fine")
    exp = load_export(export_dir(tmp_path / "k", {"events.csv": kept}))
    assert exp.events["note"].tolist() == ["ok", "café"]
    assert exp.notices[["row", "column"]].values.tolist() == [[2, "note"], [2, "topic"]]


def test_a_second_column_with_the_same_contract_name_is_listed_as_dropped(tmp_path):
    # `Note` after `note` maps to the same contract column: the first is kept and the
    # other is listed among the dropped columns (it was dropped without a word)
    lines = EVENTS.strip().split("\n")
    text = "\n".join([lines[0] + ",Note,secret", *(ln + ",copy,x" for ln in lines[1:])])
    exp = load_export(export_dir(tmp_path, {"events.csv": text + "\n"}))
    assert exp.dropped_columns == {"events": ["Note", "secret"]}
    assert exp.events["note"].iloc[0] == "hello there"


def test_a_constant_replaces_a_source_column_however_it_is_spelled(tmp_path):
    # mapping constants {topic: money}: a source column `topic` was overwritten, but one
    # spelled `Topic` came first and the constant was dropped (listed as `topic`, the
    # constant's name). Now the constant wins either way; the source column is listed
    for spelled in ("topic", "Topic", "TOPIC"):
        text = EVENTS.replace(",topic,", f",{spelled},", 1)
        d = export_dir(tmp_path / spelled, {"events.csv": text})
        exp = load_export(d, mapping={"constants": {"topic": "money"}})
        assert exp.events["topic"].tolist() == ["money"] * 4, spelled
        assert exp.dropped_columns == {"events": [spelled]}


def test_a_single_byte_file_stays_whole_file_cp1252(tmp_path):
    # 25 bytes that are not UTF-8 and one pair that happens to be valid UTF-8 ("Ã©"): the
    # whole file is cp1252, as Excel on Windows writes it, and needs no notice
    note = "Ã© " + "été à côté " * 5
    text = EVENTS.replace("hello there", note)
    exp = load_export(export_dir(tmp_path, {"events.csv": text.encode("cp1252")}))
    assert exp.events["note"].iloc[0] == note
    assert exp.notices.empty and exp.sources["encoding"].iloc[0] == "cp1252"
    # a valid pair counts for UTF-8 only on a line without a stray byte: alone on its
    # line it makes the file UTF-8 and the other line is read as cp1252, with a notice
    text = EVENTS.replace("hello there", "Ã©").replace("chores,", "chores,été à")
    exp = load_export(export_dir(tmp_path / "short", {"events.csv": text.encode("cp1252")}))
    assert exp.events["note"].iloc[[0, 2]].tolist() == ["é", "été à"]
    assert exp.notices[["row", "reason"]].to_dict("records") == [{"row": 3, "reason": "not_utf8"}]
    # on the same line as stray bytes it does not: the file is cp1252, read as it was
    text = EVENTS.replace("hello there", "Ã© été à")
    exp = load_export(export_dir(tmp_path / "one", {"events.csv": text.encode("cp1252")}))
    assert exp.events["note"].iloc[0] == "Ã© été à" and exp.notices.empty


def test_a_german_cp1252_export_with_quoted_words_stays_cp1252(tmp_path):
    # „Spaß“ in cp1252: ß then “ (0xDF 0x93) happens to be valid UTF-8 (U+07D3). One
    # such note in 7 made the file look UTF-8 (every accented row got a notice and read
    # "Spaߓ"); valid characters now count only on lines without a stray byte.
    notes = ["„Spaß“ am Tag", "schön – größer", "Grüße"]
    rows = [
        f"007,2026-03-01T09:{i % 60:02d}:{i // 60:02d}+01:00,a,bid,b{i},0.5,money,"
        + (notes[0] if i % 7 == 0 else notes[1 + i % 2])
        for i in range(200)
    ]
    data = (HEADER + "\n" + "\n".join(rows) + "\n").encode("cp1252")
    exp = load_export(export_dir(tmp_path, {"events.csv": data}))
    assert exp.sources["encoding"].tolist() == ["cp1252"] and exp.notices.empty
    assert exp.events["note"].iloc[0] == "„Spaß“ am Tag"
    # the same notes in a UTF-8 file with one pasted cp1252 line stay UTF-8
    mixed = (HEADER + "\n" + "\n".join(rows) + "\n").encode()
    mixed += "007,2026-03-02T09:00:00Z,a,bid,x,,,„Spaß“\n".encode("cp1252")
    exp = load_export(export_dir(tmp_path / "mixed", {"events.csv": mixed}))
    assert exp.sources["encoding"].tolist() == ["utf-8+cp1252"]
    assert exp.events["note"].iloc[[0, -1]].tolist() == ["„Spaß“ am Tag", "„Spaß“"]
    assert exp.notices["row"].tolist() == [201]


def test_a_pasted_cp1252_note_in_a_one_line_json_or_cr_only_file_stays_a_note(tmp_path):
    # The stray-byte rule works on units of text: with lines alone, a minified JSON file
    # or an old Mac (CR-only) CSV was one unit, so one pasted cp1252 note left no valid
    # character to count for UTF-8 and the whole file was read as cp1252 ("Zoë" became
    # "ZoÃ«" in every row, ids included); and a row whose note alone was pasted had its
    # UTF-8 partner id read as cp1252 too. A unit is a field: it ends at LF, CR, '"' or a
    # delimiter.
    recs = [dict(r, actor="Zoë", note="café") for r in _records()]
    data = json.dumps(recs, ensure_ascii=False).encode()
    assert data.count(b"\n") == 0
    data = data.replace("café".encode(), "Grüße".encode("cp1252"), 1)
    exp = load_export(export_dir(tmp_path / "json", {"events.json": data}))
    assert exp.sources["encoding"].tolist() == ["utf-8+cp1252"]
    assert exp.events["actor"].tolist() == ["Zoë"] * 4
    assert exp.events["note"].tolist() == ["Grüße", "café", "café", "café"]
    rows = [r.replace(",a,", ",Zoë,").replace(",b,", ",Zoë,") for r in ROWS]
    text = "\r".join([HEADER, *rows]).encode() + b"\r"
    text = text.replace(b"hello there", "Grüße".encode("cp1252"))
    exp = load_export(export_dir(tmp_path / "cr", {"events.csv": text}))
    assert exp.sources["encoding"].tolist() == ["utf-8+cp1252"]
    assert exp.events["actor"].tolist() == ["Zoë"] * 4
    assert exp.events["note"].iloc[0] == "Grüße"
    assert exp.notices[["row", "column", "reason"]].to_dict("records") == [
        {"row": 1, "column": "note", "reason": "not_utf8"}
    ]


def test_a_cut_character_at_a_fields_end_leaves_its_other_letters_utf8(tmp_path):
    # A note cut by bytes mid-character ("é" -> 0xC3) with one other accented letter:
    # one stray byte, one valid character, a tie that read the field as cp1252 whole
    # ("ZoÃ« sagt Ã"); a stray run that ends the field and starts a UTF-8 character is a
    # cut character: only it is read as cp1252. "„Spaß“" (stray 0x84 first) still ties.
    rows = EVENTS.replace("hello there", "Zoë est là – déjà").encode()
    rows += "007,2026-03-03T09:00:00Z,a,bid,,,,Zoë sagt é".encode()[:-1]
    rows += b'\n007,2026-03-03T10:00:00Z,a,bid,,,,"Zo\xc3\xab \xe2\x80"\n'  # (cut "…")
    rows += "007,2026-03-03T11:00:00Z,a,bid,,,,„Spaß“\n".encode("cp1252")
    exp = load_export(export_dir(tmp_path, {"events.csv": rows}))
    assert exp.events["note"].iloc[-3:].tolist() == ["Zoë sagt Ã", "Zoë â€", "„Spaß“"]
    assert exp.notices["row"].tolist() == [5, 6, 7]


def test_stray_bytes_in_jsonl_are_read_as_cp1252_alone(tmp_path):
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in _records()]
    lines[0] = lines[0].replace(b"hello there", "naïve".encode())
    lines[1] = lines[1].replace(b'"b"', '"\xe9"'.encode("latin-1"))
    exp = load_export(export_dir(tmp_path, {"events.jsonl": b"\n".join(lines)}))
    assert exp.events["note"].iloc[0] == "naïve" and exp.events["actor"].iloc[1] == "é"


@pytest.mark.parametrize("mapped", [False, True])
def test_stray_bytes_in_a_utf8_file_with_a_bom_are_read_as_cp1252(tmp_path, monkeypatch, mapped):
    # m-Path and Excel's "CSV UTF-8" write a BOM: a pasted cp1252 line there was decoded
    # with U+FFFD for each stray byte (no notice), so `zoë` of that row became `zo�`, a
    # third partner id, and the row was quarantined
    from patterns import io as pio

    if mapped:  # a large file is memory-mapped
        monkeypatch.setattr(pio, "_MMAP_MIN_BYTES", 1)
    man = {"couples": [{"couple_id": "007", "partners": ["zoë", "b"]}]}
    bom = codecs.BOM_UTF8 + _mixed_events()
    exp = load_export(export_dir(tmp_path, {"events.csv": bom}, man))
    assert_accounting(exp)
    assert exp.quarantine.empty
    assert exp.events["actor"].tolist() == ["zoë", "b", "zoë", "b"]
    assert exp.events["note"].iloc[:3].tolist() == ["très bien à toi", pd.NA, "café – 5€"]
    assert exp.notices[["row", "column", "reason"]].to_dict("records") == [
        {"row": 3, "column": "actor", "reason": "not_utf8"},
        {"row": 3, "column": "note", "reason": "not_utf8"},
    ]
    assert exp.sources.set_index("file").loc["events.csv", "encoding"] == "utf-8+cp1252"
    # a clean file with a BOM is still "utf-8-sig"; JSON Lines with a BOM read strays too
    clean = load_export(export_dir(tmp_path / "c", {"events.csv": EVENTS.encode("utf-8-sig")}))
    assert clean.sources["encoding"].iloc[0] == "utf-8-sig" and len(clean.events) == 4
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in _records()]
    lines[1] = lines[1].replace(b'"b"', '"\xe9"'.encode("latin-1"))
    data = codecs.BOM_UTF8 + b"\n".join(lines)
    exp = load_export(export_dir(tmp_path / "j", {"events.jsonl": data}))
    assert exp.events["actor"].iloc[1] == "é"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # (set again each time)
)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet='ab,\n\r" é–€ë😀', max_size=6).map(str.encode),
            st.binary(min_size=1, max_size=3).map(lambda b: bytes(x | 0x80 for x in b)),
        ),
        max_size=30,
    ),
    st.integers(1, 40),
)
def test_stray_bytes_read_as_cp1252_byte_by_byte_across_blocks(monkeypatch, parts, block):
    # blocks of a few bytes, so that stray bytes fall at and across block cuts
    from patterns import io as pio

    monkeypatch.setattr(pio, "_STRAY_BLOCK", block)
    monkeypatch.setattr(pio, "_STRAY_JUDGE", 10**9)  # judged on the whole file
    data = b"".join(parts)
    got = pio._read_strays(data, False)
    text = data.decode("utf-8", "surrogateescape")
    if got is not None:
        # field by field (text between LF, CR, '"', ',;\t|'): one with at least as many stray
        # bytes as valid non-ASCII characters is read as cp1252 whole; in other units
        # each stray byte is read as cp1252 and each UTF-8 character as UTF-8
        def cut(ln):  # some continuation bytes make the unit valid UTF-8: a cut character
            raw = ln.encode("utf-8", "surrogateescape")
            ends = [
                bytes(c) for k in (1, 2, 3) for c in itertools.product(b"\x80\x90\xa0", repeat=k)
            ]
            return any(_is_utf8(raw + e) for e in ends)

        def line_ref(ln):
            n_stray = sum(0xDC80 <= ord(c) <= 0xDCFF for c in ln)
            if n_stray and n_stray >= sum(ord(c) >= 0x80 for c in ln) - n_stray and not cut(ln):
                raw = ln.encode("utf-8", "surrogateescape")
                return "".join(pio._cp1252_char(b) if b >= 0x80 else chr(b) for b in raw)
            return "".join(pio._CP1252_OF_STRAY.get(ord(c), c) for c in ln)

        ref = "".join(line_ref(u) for u in re.split('([\n\r",;\t|])', text))
        assert got[0].decode("utf-8") == ref and got[1] is False
        marked, used = pio._read_strays(data, True)
        # marks, unless the file may hold one already (then read as cp1252 at once)
        assert not (used and any(0xF780 <= ord(c) <= 0xF7FF for c in text))
        assert used or any(m in data for m in pio._MARK_BYTES)
        assert marked.decode("utf-8").translate(pio._CP1252_OF_MARK if used else {}) == ref
    else:  # a single-byte file: stray bytes over 20× the valid multi-byte characters
        # (their extra bytes) in the fields without a stray byte
        def stray(c):
            return 0xDC80 <= ord(c) <= 0xDCFF

        strays = sum(map(stray, text))
        clean = [u for u in re.split('[\n\r",;\t|]', text) if not any(map(stray, u))]
        extra = sum(len(ln.encode()) - len(ln) for ln in clean)
        assert strays > 20 * extra


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_a_large_single_byte_file_is_judged_on_its_first_failing_blocks(monkeypatch, eol):
    # (a CR-only file too: it has no LF to cut blocks at, and was one block of the whole
    # file, so decoded whole before being judged - 4.6 s instead of 0.8 s at 200 MB)
    from patterns import io as pio

    monkeypatch.setattr(pio, "_STRAY_BLOCK", 64)
    line = f"007,café – crème,Zoë{eol}".encode("cp1252")
    data = line * 8 * 10 + f"naïve and more UTF-8: é à ü{eol}".encode() * 40
    assert pio._read_strays(data, True) is None  # judged after 8 blocks of cp1252 lines
    monkeypatch.setattr(pio, "_STRAY_JUDGE", 10**9)
    assert pio._read_strays(data, True) is not None  # a valid non-ASCII block: UTF-8


def test_excel_resaved_quoted_lines_are_unwrapped(tmp_path):
    lines = [f'"{ln}"' for ln in EVENTS.replace(",", ";").strip().split("\n")]
    exp = load_export(export_dir(tmp_path, {"events.csv": "\n".join(lines) + "\n"}))
    assert len(exp.events) == 4 and exp.quarantine.empty


def _reference(tmp_path) -> pd.DataFrame:
    return load_export(export_dir(tmp_path / "ref", {"events.csv": EVENTS})).events


def _records() -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(EVENTS)))
    return [{k: v for k, v in r.items() if v != ""} for r in rows]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet", "xlsx", "csv.gz", "tsv", "txt"])
def test_formats_load_the_same_table(tmp_path, fmt):
    (tmp_path / "ref").mkdir()
    ref = _reference(tmp_path)
    d = tmp_path / "export"
    d.mkdir()
    recs = _records()
    if fmt == "jsonl":
        (d / "events.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    elif fmt == "json":
        (d / "events.json").write_text(json.dumps(recs))
    elif fmt == "parquet":
        pd.DataFrame(recs).to_parquet(d / "events.parquet")
    elif fmt == "xlsx":
        pd.DataFrame(recs).to_excel(d / "events.xlsx", index=False)
    elif fmt == "csv.gz":
        (d / "events.csv.gz").write_bytes(gzip.compress(EVENTS.encode()))
    elif fmt == "tsv":
        (d / "events.tsv").write_text(EVENTS.replace(",", "\t"))
    else:
        (d / "events.txt").write_text(EVENTS)
    exp = load_export(d)
    assert exp.quarantine.empty
    pd.testing.assert_frame_equal(exp.events, ref)


def test_parquet_typed_columns(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    ts = pd.to_datetime(["2026-03-01T08:00:00Z", "2026-03-01T09:00:00Z"], utc=True)
    pd.DataFrame(
        {
            "couple_id": [7, 7],
            "ts": ts,
            "actor": ["a", "b"],
            "code": ["bid", "toward"],
            "intensity": [0.5, np.nan],
        }
    ).to_parquet(d / "events.parquet")
    naive = pd.DataFrame(
        {
            "couple_id": ["7"],
            "partner": ["a"],
            "ts": [pd.Timestamp("2026-03-01 22:00")],
            "connection": [8],
        }
    )
    naive.to_parquet(d / "checkins.parquet")
    exp = load_export(d, timezone="Europe/Amsterdam")
    assert exp.events["couple_id"].tolist() == ["7", "7"]
    assert (exp.events["ts"].to_numpy() == ts.as_unit("ns").to_numpy()).all()
    assert exp.checkins["ts"].iloc[0] == pd.Timestamp("2026-03-01T21:00:00Z")


def test_zip_and_single_json_exports(tmp_path):
    (tmp_path / "ref").mkdir()
    ref = _reference(tmp_path)
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("myexport/events.csv", EVENTS)
        zf.writestr("myexport/manifest.json", json.dumps({"timezone": "Europe/Paris"}))
        zf.writestr("myexport/truth/episodes.csv", "ignored\n")
    exp = load_export(z)
    pd.testing.assert_frame_equal(exp.events, ref, check_like=True)
    assert exp.timezones == {"007": "Europe/Paris"}
    single = tmp_path / "one.json"
    single.write_text(
        json.dumps({"manifest": {"timezone": "UTC"}, "events": _records(), "checkins": []})
    )
    exp2 = load_export(single)
    pd.testing.assert_frame_equal(exp2.events, ref)
    assert exp2.checkins.empty and exp2.manifest == {"timezone": "UTC"}
    # the single file's sources rows carry the SHA-256 of its bytes
    assert set(exp2.sources["sha256"]) == {hashlib.sha256(single.read_bytes()).hexdigest()}


def test_single_table_file_and_synonym_names(tmp_path):
    d = export_dir(tmp_path, {"Bids.CSV": EVENTS, "Diary.csv": CHECKINS})
    exp = load_export(d)
    assert len(exp.events) == 4 and len(exp.checkins) == 2
    exp1 = load_export(d / "Bids.CSV")
    assert len(exp1.events) == 4 and exp1.checkins.empty


def test_json_numbers_keep_their_text_and_nulls_are_missing(tmp_path):
    recs = [
        {
            "couple_id": "007",
            "ts": 1772355600,
            "actor": "a",
            "code": "bid",
            "intensity": 0.1,
            "note": None,
            "bid_id": 12,
        }
    ]
    exp = load_export(export_dir(tmp_path, {"events.json": json.dumps(recs)}))
    assert exp.events["bid_id"].iloc[0] == "12"
    assert exp.events["intensity"].iloc[0] == pytest.approx(0.1)
    assert pd.isna(exp.events["note"].iloc[0])


# --------------------------------------------------------------------------------------
# Timestamps


def _one_event(tmp_path, ts: str, zone: str | None = None, **kw) -> Export:
    manifest = {"timezone": zone} if zone else None
    text = f"couple_id,ts,actor,code\nc1,{ts},a,bid\n"
    return load_export(export_dir(tmp_path, {"events.csv": text}, manifest), **kw)


def _fold0_utc(wall: str, zone: str) -> pd.Timestamp:
    """Independent oracle: zoneinfo with fold=0 (PEP 495)."""
    dt = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone), fold=0)
    return pd.Timestamp(dt.astimezone(UTC))


@pytest.mark.parametrize(
    ("wall", "zone"),
    [
        ("2026-06-01T12:00:00", "Europe/Amsterdam"),
        ("2026-03-29T02:30:00", "Europe/Amsterdam"),  # spring-forward gap
        ("2026-10-25T02:30:00", "Europe/Amsterdam"),  # fall-back overlap
        ("2026-03-08T02:15:00", "America/New_York"),  # gap
        ("2026-11-01T01:30:00", "America/New_York"),  # overlap
        ("2026-04-05T02:30:00", "Australia/Sydney"),  # overlap (southern autumn)
        ("2026-10-04T02:30:00", "Australia/Lord_Howe"),  # 30-minute gap
    ],
)
def test_naive_local_times_follow_zoneinfo_fold0(tmp_path, wall, zone):
    exp = _one_event(tmp_path, wall, zone)
    assert exp.events["ts"].iloc[0] == _fold0_utc(wall, zone)
    assert exp.quarantine.empty


def test_dst_gap_and_overlap_are_reported_not_quarantined(tmp_path):
    text = (
        "couple_id,ts,actor,code\n"
        "c1,2026-03-29 02:30,a,bid\n"
        "c1,2026-10-25 02:30,a,bid\n"
        "c1,2026-10-25 03:30,b,toward\n"
    )
    d = export_dir(tmp_path, {"events.csv": text}, {"timezone": "Europe/Amsterdam"})
    exp = load_export(d, strict=True)  # resolved by the documented rule: strict accepts
    ts = exp.events["ts"]
    assert ts.iloc[0] == pd.Timestamp("2026-03-29T01:30:00Z")  # 03:30 CEST: moved by the gap
    assert ts.iloc[1] == pd.Timestamp("2026-10-25T00:30:00Z")  # first occurrence (CEST)
    assert ts.iloc[2] == pd.Timestamp("2026-10-25T02:30:00Z")
    n = exp.notices
    assert n[["row", "reason"]].values.tolist() == [[1, "dst_nonexistent"], [2, "dst_ambiguous"]]
    assert exp.summary().set_index("table").loc["events", "rows_dst_adjusted"] == 2


def test_epochs_and_excel_serials(tmp_path):
    text = (
        "couple_id,ts,actor,code\n"
        "c1,1772355600,a,bid\n"  # epoch seconds
        "c1,1772355600123,a,bid\n"  # epoch milliseconds
        "c1,45678.5,a,bid\n"  # Excel serial, local time
        "c1,1772355600.5,a,bid\n"
    )
    d = export_dir(tmp_path, {"events.csv": text}, {"timezone": "America/New_York"})
    ts = load_export(d).events["ts"]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert ts.iloc[0] == pd.Timestamp(epoch + timedelta(seconds=1772355600))
    assert ts.iloc[1] == pd.Timestamp(epoch + timedelta(milliseconds=1772355600123))
    wall = datetime(1899, 12, 30) + timedelta(days=45678.5)
    assert wall == datetime(2025, 1, 21, 12, 0)
    assert ts.iloc[2] == _fold0_utc(wall.isoformat(), "America/New_York")
    assert ts.iloc[3] == pd.Timestamp(epoch + timedelta(seconds=1772355600.5))


@pytest.mark.parametrize(
    "bad", ["yesterday", "2026-13-45", "12", "1800-01-01T00:00:00Z", "03/04/2026", "99999999"]
)
def test_unparseable_times_are_quarantined(tmp_path, bad):
    exp = _one_event(tmp_path, bad)
    q = exp.quarantine
    assert q[["row", "column", "reason"]].values.tolist() == [[1, "ts", "bad_timestamp"]]
    assert bad not in q["detail"].iloc[0]
    assert_accounting(exp)


def test_unambiguous_day_month_and_ts_format(tmp_path):
    exp = _one_event(tmp_path, "13/03/2026 10:00", "UTC")
    assert exp.events["ts"].iloc[0] == pd.Timestamp("2026-03-13T10:00:00Z")
    exp = _one_event(tmp_path, "03/04/2026 10:00", "UTC", mapping={"ts_format": "%d/%m/%Y %H:%M"})
    assert exp.events["ts"].iloc[0] == pd.Timestamp("2026-04-03T10:00:00Z")


def test_space_before_offset_and_zone_precedence(tmp_path):
    exp = _one_event(tmp_path, "2026-03-01 10:00:00 +02:00")
    assert exp.events["ts"].iloc[0] == pd.Timestamp("2026-03-01T08:00:00Z")
    # manifest couple zone > manifest default > timezone argument > mapping timezone
    text = "couple_id,ts,actor,code\nc1,2026-06-01 12:00,a,bid\nc2,2026-06-01 12:00,a,bid\n"
    man = {"timezone": "Asia/Tokyo", "couples": [{"couple_id": "c1", "timezone": "UTC"}, "c2"]}
    exp = load_export(export_dir(tmp_path, {"events.csv": text}, man), timezone="Europe/Oslo")
    assert exp.timezones == {"c1": "UTC", "c2": "Asia/Tokyo"}
    assert exp.events["ts"].tolist() == [
        pd.Timestamp("2026-06-01T12:00Z"),
        pd.Timestamp("2026-06-01T03:00Z"),
    ]
    d2 = export_dir(tmp_path / "b", {"events.csv": text})
    exp = load_export(d2, timezone="Europe/Oslo", mapping={"timezone": "Asia/Tokyo"})
    assert exp.timezones == {"c1": "Europe/Oslo", "c2": "Europe/Oslo"}
    exp = load_export(d2, mapping={"timezone": "Asia/Tokyo"})
    assert exp.timezones == {"c1": "Asia/Tokyo", "c2": "Asia/Tokyo"}


# --------------------------------------------------------------------------------------
# Quarantine reasons


def test_each_quarantine_reason_with_row_and_column(tmp_path):
    text = (
        "couple_id,ts,actor,code,intensity,note\n"
        "c1,2026-03-01T10:00:00Z,a,bid,0.5,ok\n"  # 1 fine
        "c1,,a,bid,0.5,SECRET-1\n"  # 2 missing ts
        "c1,2026-03-01T10:02:00Z,a,hug,0.5,SECRET-2\n"  # 3 unknown code
        "c1,2026-03-01T10:03:00Z,a,bid,1.5,SECRET-3\n"  # 4 out of range
        "c1,2026-03-01T10:04:00Z,a,bid,lots,SECRET-4\n"  # 5 bad number
        "c1,2026-03-01T10:00:00Z,a,bid,0.5,ok\n"  # 6 duplicate of 1
        "c1,2026-03-01T10:06:00Z,b,toward,0.5,\n"  # 7 fine
        "c1,2026-03-01T10:07:00Z,z,toward,0.5,SECRET-5\n"  # 8 third partner
        "c1,2026-03-01T10:08:00Z,a,bid,0.5\n"  # 9 ragged (too few)
        "c1,2026-03-01T10:09:00Z,a,bid,0.5,SECRET-6,extra\n"  # 10 ragged (too many)
        ",2026-03-01T10:10:00Z,a,bid,0.5,\n"  # 11 missing couple
        "c1,2026-03-01T10:11:00Z,b,Toward,,\n"  # 12 fine (case-insensitive code)
        "c1,2026-03-01T10:12:00Z,b,SECRET told me off,,\n"  # 13 free text in the code column
    )
    exp = load_export(export_dir(tmp_path, {"events.csv": text}))
    q = exp.quarantine
    got = q[["row", "column", "reason"]].values.tolist()
    assert got == [
        [2, "ts", "bad_timestamp"] if False else [2, "ts", "missing_required"],
        [3, "code", "unknown_code"],
        [4, "intensity", "out_of_range"],
        [5, "intensity", "bad_number"],
        [6, "", "duplicate"],
        [8, "actor", "third_partner"],
        [9, "", "ragged_row"],
        [10, "", "ragged_row"],
        [11, "couple_id", "missing_required"],
        [13, "code", "unknown_code"],
    ]
    assert (q["source"] == "events.csv").all() and (q["table"] == "events").all()
    assert len(exp.events) == 3
    assert "'hug'" in q.loc[q["reason"] == "unknown_code", "detail"].iloc[0]
    # Free text never reaches the quarantine table.
    assert not q.astype(str).apply(lambda c: c.str.contains("secret", case=False)).any().any()
    assert set(q["reason"]) <= set(schema.QUARANTINE_REASONS)
    assert_accounting(exp)


def test_row_with_several_problems_counts_once(tmp_path):
    text = "couple_id,partner,ts,connection,conflict\nc1,a,nope,11,maybe\nc1,a,2026-03-01,5,no\n"
    exp = load_export(export_dir(tmp_path, {"checkins.csv": text}))
    q = exp.quarantine
    assert sorted(q["reason"]) == ["bad_bool", "bad_timestamp", "out_of_range"]
    assert (q["row"] == 1).all()
    s = exp.summary().set_index("table").loc["checkins"]
    assert (s["rows_in"], s["rows_loaded"], s["rows_quarantined"]) == (2, 1, 1)


def test_ragged_rows_with_quoted_newlines_keep_true_row_numbers(tmp_path):
    text = (
        "couple_id,ts,actor,code,note\n"
        'c1,2026-03-01T10:00:00Z,a,bid,"line one\nline two"\n'
        "c1,2026-03-01T10:01:00Z,b\n"
        "\n"
        'c1,2026-03-01T10:02:00Z,b,toward,"x, y"\n'
    )
    exp = load_export(export_dir(tmp_path, {"events.csv": text}))
    assert exp.quarantine[["row", "reason"]].values.tolist() == [[2, "ragged_row"]]
    assert exp.events["note"].tolist() == ["line one\nline two", "x, y"]


def test_manifest_couples_and_partners(tmp_path):
    text = (
        "couple_id,ts,actor,code\n"
        "c1,2026-03-01T10:00:00Z,c1-a,bid\n"
        "c1,2026-03-01T10:01:00Z,c1-x,toward\n"  # unknown partner
        "c9,2026-03-01T10:02:00Z,c9-a,bid\n"  # unknown couple
    )
    man = {"couples": [{"couple_id": "c1", "partners": ["c1-a", "c1-b"]}]}
    exp = load_export(export_dir(tmp_path, {"events.csv": text}, man))
    assert exp.quarantine[["row", "reason"]].values.tolist() == [
        [2, "unknown_partner"],
        [3, "unknown_couple"],
    ]
    assert exp.partners == {"c1": ["c1-a", "c1-b"]}
    assert exp.couples == ["c1"]


def test_third_partner_keeps_two_busiest_ties_by_first_appearance(tmp_path):
    ev = (
        "couple_id,ts,actor,code\n"
        "c1,2026-03-01T10:00:00Z,x,bid\n"
        "c1,2026-03-01T10:01:00Z,y,bid\n"
        "c1,2026-03-01T10:02:00Z,z,bid\n"
        "c1,2026-03-01T10:03:00Z,z,bid\n"
    )
    # z: 2 rows; x, y: 1 each → keep z and x (x appears first).
    exp = load_export(export_dir(tmp_path, {"events.csv": ev}))
    assert exp.partners == {"c1": ["x", "z"]}
    assert exp.quarantine[["row", "reason"]].values.tolist() == [[2, "third_partner"]]
    # Check-ins count too: two more rows for y make y one of the two.
    ci = "couple_id,partner,ts,connection\nc1,y,2026-03-01,5\nc1,y,2026-03-02,5\n"
    exp = load_export(export_dir(tmp_path / "b", {"events.csv": ev, "checkins.csv": ci}))
    assert exp.partners == {"c1": ["y", "z"]}
    assert exp.quarantine[["table", "row"]].values.tolist() == [["events", 1]]


def test_na_values_bools_scales_and_body_signals(tmp_path):
    text = (
        "couple_id,partner,ts,connection,conflict,repaired,tension,blank,conflict_intensity\n"
        "c1,a,2026-03-01,1,Y,checked,no,3,50\n"
        "c1,b,2026-03-01,7,n,0,YES,-99,100\n"
        "c1,a,2026-03-02,NA,TRUE,off,4,0,0\n"
    )
    mapping = {
        "na_values": ["NA", "-99"],
        "scales": {"connection": [1, 7], "conflict_intensity": [0, 100]},
    }
    exp = load_export(export_dir(tmp_path, {"checkins.csv": text}), mapping=mapping)
    ci = exp.checkins
    assert exp.quarantine.empty
    assert ci["connection"].tolist()[:2] == [0.0, 10.0]
    assert pd.isna(ci["connection"].iloc[2])
    assert ci["conflict"].tolist() == [True, False, True]
    assert ci["repaired"].tolist() == [True, False, False]
    assert ci["tension"].tolist() == [0.0, 1.0, 4.0]
    assert ci["blank"].iloc[0] == 3.0 and pd.isna(ci["blank"].iloc[1])
    assert ci["conflict_intensity"].tolist() == [0.5, 1.0, 0.0]


def test_manifest_scales(tmp_path):
    text = "couple_id,partner,ts,connection,stress\nc1,a,2026-03-01,75,0\nc1,b,2026-03-01,101,5\n"
    man = {"scales": {"ratings": [0, 100], "stress": [0, 5]}}
    exp = load_export(export_dir(tmp_path, {"checkins.csv": text}, man))
    assert exp.checkins["connection"].tolist() == [7.5]
    assert exp.checkins["stress"].tolist() == [0.0]
    assert exp.quarantine[["row", "column", "reason"]].values.tolist() == [
        [2, "connection", "out_of_range"]
    ]


def test_jsonl_bad_lines_are_bad_records(tmp_path):
    good = json.dumps(
        {"couple_id": "c1", "ts": "2026-03-01T10:00:00Z", "actor": "a", "code": "bid"}
    )
    text = "\n".join([good, "{not json", "[1, 2]", good.replace("10:00", "10:01")]) + "\n"
    exp = load_export(export_dir(tmp_path, {"events.jsonl": text}))
    assert exp.quarantine[["row", "reason"]].drop_duplicates().values.tolist() == [
        [2, "bad_record"],
        [3, "bad_record"],
    ]
    assert len(exp.events) == 2
    assert_accounting(exp)


# --------------------------------------------------------------------------------------
# Errors and strict mode


def test_missing_columns_error_names_all_and_hints(tmp_path):
    text = "couple,timestamp,person,note\nc1,2026-03-01,a,x\n"
    with pytest.raises(
        ExportError, match=r"missing columns \['couple_id', 'ts', 'actor', 'code'\]"
    ) as info:
        load_export(export_dir(tmp_path, {"events.csv": text}))
    msg = str(info.value)
    assert "present columns: ['couple', 'timestamp', 'person', 'note']" in msg
    assert "did you mean `timestamp` → map it to `ts`" in msg
    assert "did you mean `couple` → map it to `couple_id`" in msg


def test_strict_lists_every_problem(tmp_path):
    text = "couple_id,ts,actor,code\nc1,bad,a,bid\nc1,2026-03-01,a,hug\nc1,2026-03-01,a,bid\n"
    d = export_dir(tmp_path, {"events.csv": text})
    with pytest.raises(ExportError, match=r"strict mode: 2 problem\(s\) in 2 row\(s\)") as info:
        load_export(d, strict=True)
    assert len(info.value.problems) == 2
    assert "events events.csv row 1 column ts: bad_timestamp" in info.value.problems[0]
    assert "unknown_code" in info.value.problems[1]


@pytest.mark.parametrize(
    ("setup", "pattern"),
    [
        (lambda p: p / "nope", "does not exist"),
        (lambda p: (p / "x.json").write_text("[1, 2]") and p / "x.json", "must be a JSON object"),
        (lambda p: (p / "y.json").write_text("{oops") and p / "y.json", "not valid JSON"),
        (lambda p: (p / "z.bin").write_text("hi") and p / "z.bin", "is not an export"),
    ],
)
def test_unreadable_exports_raise(tmp_path, setup, pattern):
    with pytest.raises(ExportError, match=pattern):
        load_export(setup(tmp_path))


def test_bad_arguments_and_mapping_raise(tmp_path):
    d = export_dir(tmp_path, {"events.csv": EVENTS})
    with pytest.raises(ExportError, match="not a known IANA zone"):
        load_export(d, timezone="Mars/Olympus")
    with pytest.raises(ExportError, match=r"unknown mapping key\(s\) \['renam'\]"):
        load_export(d, mapping={"renam": {"a": "b"}})
    with pytest.raises(ExportError, match=r"mapping file 'missing\.yaml' not found"):
        load_export(d, mapping="missing.yaml")
    with pytest.raises(ExportError, match="low < high"):
        load_export(d, mapping={"scales": {"intensity": [1, 1]}})
    with pytest.raises(ExportError, match="strict must be True or False"):
        load_export(d, strict="yes")
    with pytest.raises(ExportError, match="manifest timezone 'Nowhere' is not a known"):
        load_export(export_dir(tmp_path / "m", {"events.csv": EVENTS}, {"timezone": "Nowhere"}))
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("rename: [unclosed\n")
    with pytest.raises(ExportError, match="not valid YAML"):
        load_export(d, mapping=bad_yaml)


# --------------------------------------------------------------------------------------
# Archive safety


def _zip_with(tmp_path, name: str, data: bytes = b"x", *, symlink: bool = False) -> Path:
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("events.csv", EVENTS)
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, data)
    return z


@pytest.mark.parametrize(
    ("member", "pattern"),
    [
        ("../escape.csv", "escapes the archive"),
        ("/etc/passwd", "escapes the archive"),
        ("a/../../b.csv", "escapes the archive"),
        ("C:/x/events.csv", "escapes the archive"),
        ("..\\win.csv", "escapes the archive"),
    ],
)
def test_zip_traversal_rejected(tmp_path, member, pattern):
    with pytest.raises(ExportError, match=pattern):
        load_export(_zip_with(tmp_path, member))


def test_zip_symlink_rejected(tmp_path):
    with pytest.raises(ExportError, match="symlink"):
        load_export(_zip_with(tmp_path, "checkins.csv", b"/etc/passwd", symlink=True))


def test_zip_bomb_rejected_quickly(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("events.csv", HEADER + "\n" + "0" * (8 << 20))
    assert z.stat().st_size < 200_000
    t0 = time.perf_counter()
    with pytest.raises(ExportError, match="compression bomb"):
        load_export(z)
    assert time.perf_counter() - t0 < 1.0


def test_size_caps(tmp_path, monkeypatch):
    import patterns.io as pio

    z = tmp_path / "big.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("events.csv", EVENTS * 50)
    monkeypatch.setattr(pio, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(ExportError, match="over the 1,000-byte limit"):
        load_export(z)
    monkeypatch.setattr(pio, "MAX_MEMBER_BYTES", 10**9)
    monkeypatch.setattr(pio, "MAX_MEMBERS", 0)
    with pytest.raises(ExportError, match=r"has 1 members \(limit 0\)"):
        load_export(z)


def test_gzip_bomb_rejected_quickly(tmp_path):
    data = gzip.compress(b"couple_id,ts,actor,code\n" + b"0" * (8 << 20), compresslevel=9)
    d = export_dir(tmp_path, {"events.csv.gz": data})
    t0 = time.perf_counter()
    with pytest.raises(ExportError, match="compression bomb"):
        load_export(d)
    assert time.perf_counter() - t0 < 2.0


def test_corrupt_files_raise_export_error(tmp_path):
    for name, data in [
        ("events.parquet", b"PAR1 not really"),
        ("events.xlsx", b"PK\x03\x04xx"),
        ("events.csv.gz", b"\x1f\x8b garbage"),
    ]:
        d = export_dir(tmp_path / name.replace(".", "_"), {name: data})
        with pytest.raises(ExportError, match="not a readable"):
            load_export(d)
    z = tmp_path / "broken.zip"
    z.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    with pytest.raises(ExportError):
        load_export(z)


# --------------------------------------------------------------------------------------
# Mappings


def test_mapping_rename_recode_and_yaml_file(tmp_path):
    text = (
        "Dyad,When,Who,Move,Strength\n"
        "d1,2026-03-01T10:00:00Z,a,bid_for_attention,50\n"
        "d1,2026-03-01T10:01:00Z,b,turned_toward,100\n"
        "d1,2026-03-01T10:02:00Z,b,shrug,0\n"
    )
    y = tmp_path / "m.yaml"
    y.write_text(
        "rename:\n  events: {Dyad: couple_id, When: ts, Who: actor, Move: code,"
        " Strength: intensity}\n"
        "recode:\n  code: {bid_for_attention: bid, turned_toward: toward}\n"
        "scales:\n  intensity: [0, 100]\n"
    )
    exp = load_export(export_dir(tmp_path, {"events.csv": text}), mapping=y)
    assert exp.events["code"].tolist() == ["bid", "toward"]
    assert exp.events["intensity"].tolist() == [0.5, 1.0]
    assert exp.quarantine[["row", "reason"]].values.tolist() == [[3, "unknown_code"]]


def test_wide_couple_day_sheet_pivots_to_checkins(tmp_path):
    text = (
        "dyad,date,conn_A,conn_B,stress_A,stress_B\n"
        "d1,2026-03-01 21:00,5,6,1,2\n"
        "d1,2026-03-02 21:00,7,,3,\n"  # partner B missed the day
    )
    mapping = {
        "tables": {"checkins": "wide.csv"},
        "wide": {"suffixes": {"_A": "a", "_B": "b"}, "couple_column": "dyad"},
        "rename": {"date": "ts", "conn": "connection"},
        "timezone": "Europe/Berlin",
    }
    exp = load_export(export_dir(tmp_path, {"wide.csv": text}), mapping=mapping)
    ci = exp.checkins
    assert ci[["couple_id", "partner", "connection", "stress"]].values.tolist() == [
        ["d1", "d1-a", 5.0, 1.0],
        ["d1", "d1-b", 6.0, 2.0],
        ["d1", "d1-a", 7.0, 3.0],
    ]
    assert ci["ts"].iloc[0] == pd.Timestamp("2026-03-01T20:00:00Z")
    assert exp.quarantine[["row", "reason"]].values.tolist() == [[2, "missing_required"]]
    s = exp.summary().set_index("table").loc["checkins"]
    assert (s["rows_in"], s["rows_loaded"], s["rows_quarantined"]) == (4, 3, 1)


def test_wide_sheet_keeps_not_utf8_notices_on_the_partner_rows_they_concern(tmp_path):
    # stray cp1252 bytes in one partner's answer, in a shared column and in the couple
    # column (whose id is part of both partner ids): the notices follow the long rows
    data = "dyad,date,ans_A,ans_B,prompt\nd1,2026-03-01 21:00,très,ok,p\n".encode() + (
        "d1,2026-03-02 21:00,caf\xe9,non,p\n"
        "d1,2026-03-03 21:00,x,y,pr\xe9\n"
        "d\xe9,2026-03-04 21:00,x,y,p\n"
    ).encode("cp1252")
    mapping = {
        "tables": {"checkins": "wide.csv"},
        "wide": {"suffixes": {"_A": "a", "_B": "b"}, "couple_column": "dyad"},
        "rename": {"date": "ts", "ans": "answer"},
        "timezone": "Europe/Berlin",
    }
    exp = load_export(export_dir(tmp_path, {"wide.csv": data}), mapping=mapping)
    assert_accounting(exp)
    ci = exp.checkins
    assert ci["answer"].tolist()[:4] == ["très", "ok", "café", "non"]
    assert ci["partner"].tolist()[-2:] == ["dé-a", "dé-b"]
    assert exp.notices[["row", "column", "record"]].values.tolist() == [
        [2, "answer", 2],  # partner a's answer only
        [3, "prompt", 4],
        [3, "prompt", 5],
        [4, "couple_id", 6],
        [4, "partner", 6],
        [4, "couple_id", 7],
        [4, "partner", 7],
    ]
    assert set(exp.notices["reason"]) == {"not_utf8"}
    assert exp.summary().set_index("table").loc["checkins", "rows_not_utf8"] == 5


def test_shipped_mpath_mapping(tmp_path):
    header = (
        "dyad;connectionId;timeStampStart;timeZoneOffset;slider_connected_sliderNeutralPos;"
        "slider_stress_sliderNeutralPos;multipleChoice_conflict;slider_tension_sliderNeutralPos;"
        "open_reflection;extraItem"
    )
    rows = [
        "d1;d1-a;1772402400;3600;75;20;nee;1;fijn;x",
        "d1;d1-b;1772403000;3600;40,5;NA;ja;0;;x",
        "d1;d1-a;;3600;;;;;;x",  # unanswered prompt
    ]
    data = ("\ufeff" + header + "\n" + "\n".join(rows) + "\n").encode("utf-8")
    exp = load_export(export_dir(tmp_path, {"mpath_export.csv": data}), mapping="mpath")
    ci = exp.checkins
    local = pd.Timestamp(1772402400, unit="s")  # wall clock stored as if Unix time
    assert ci["ts"].iloc[0] == (local - pd.Timedelta(seconds=3600)).tz_localize("UTC")
    assert ci["connection"].tolist() == [7.5, 4.05]
    assert ci["stress"].iloc[0] == 2.0 and pd.isna(ci["stress"].iloc[1])
    assert ci["conflict"].tolist() == [False, True]
    assert exp.quarantine[["row", "column", "reason"]].values.tolist() == [
        [3, "ts", "missing_required"]
    ]
    assert exp.dropped_columns["checkins"] == ["extraItem", "timeZoneOffset"]


def test_shipped_redcap_mapping(tmp_path):
    text = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,dyad_id,"
        "diary_datetime,closeness,stress_level,conflict_yn,body___1,body___2\n"
        "p01,baseline_arm_1,,,D01,,,,,,\n"
        "p01,baseline_arm_1,daily_diary,1,D01,2026-02-02 20:15,4,1,0,1,0\n"
        "p02,baseline_arm_1,,,D01,,,,,,\n"
        "p02,baseline_arm_1,daily_diary,1,D01,2026-02-02 20:30,7,7,1,0,1\n"
    )
    exp = load_export(export_dir(tmp_path, {"redcap_export.csv": text}), mapping="redcap")
    ci = exp.checkins
    assert ci["partner"].tolist() == ["p01", "p02"]
    assert ci["connection"].tolist() == [5.0, 10.0]
    assert ci["tension"].tolist() == [1.0, 0.0] and ci["urge_withdraw"].tolist() == [0.0, 1.0]
    assert ci["ts"].iloc[0] == _fold0_utc("2026-02-02T20:15:00", "America/Chicago")
    q = exp.quarantine
    assert sorted(set(q["row"])) == [1, 3] and "excluded" in set(q["reason"])
    assert_accounting(exp)


def test_shipped_qualtrics_mapping(tmp_path):
    text = (
        "StartDate,EndDate,Status,ResponseId,Q_couple,Q_partner,Q1_connected,Q2_lonely,"
        "Q3_argued,Q3_topic,Q4_reflection\n"
        "Start Date,End Date,Response Type,Response ID,Couple code,Your code,"
        '"How connected, 1-7?",Lonely?,Argued?,Topic,Anything else?\n'
        '"{""ImportId"":""startDate"",""timeZone"":""America/Denver""}",'
        '"{""ImportId"":""endDate""}",x,x,x,x,x,x,x,x,x\n'
        "2026-04-01 20:00:00,2026-04-01 20:03:00,0,R_1,c9,c9-a,7,1,Yes,money,private words\n"
        "2026-04-01 20:10:00,2026-04-01 20:12:00,1,R_2,c9,c9-b,1,1,No,,\n"
    )
    exp = load_export(export_dir(tmp_path, {"survey_export.csv": text}), mapping="qualtrics")
    ci = exp.checkins
    assert len(ci) == 1
    assert ci["connection"].iloc[0] == 10.0 and ci["lonely"].iloc[0] == 0.0
    assert ci["conflict"].iloc[0] and ci["conflict_topic"].iloc[0] == "money"
    assert ci["ts"].iloc[0] == _fold0_utc("2026-04-01T20:03:00", "America/Denver")
    assert exp.quarantine[["row", "reason"]].values.tolist() == [[4, "excluded"]]
    assert "private words" not in exp.quarantine.to_string()


def test_read_mapping_examples_are_valid():
    for name in ("mpath", "redcap", "qualtrics"):
        assert read_mapping(name)["description"]


# --------------------------------------------------------------------------------------
# for_couple


def test_loaded_tables_write_to_parquet_with_their_zones(tmp_path, sample_path):
    """``DataFrame.to_parquet`` stores ``attrs`` as JSON: the loader's shared, immutable
    zone map must serialise (it used to raise TypeError), for whole exports and for
    ``for_couple``; the zones come back as a plain mapping."""
    exp = load_export(sample_path)
    for frame in (exp.events, exp.for_couple(exp.couples[0]).checkins):
        frame.to_parquet(tmp_path / "t.parquet", index=False)
        back = pd.read_parquet(tmp_path / "t.parquet")
        assert back.attrs["timezones"] == dict(frame.attrs["timezones"])
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    with pytest.raises(TypeError, match="immutable"):
        exp.events.attrs["timezones"]["c_new"] = "UTC"


def test_for_couple_restricts_everything(tmp_path):
    text = (
        "couple_id,ts,actor,code\n"
        "c1,2026-03-01T10:00:00Z,a,bid\n"
        "c2,2026-03-01T10:00:00Z,x,bid\n"
        "c2,bad,x,bid\n"
        ",2026-03-01T10:00:00Z,x,bid\n"  # no couple: in no couple's accounting
    )
    man = {
        "couples": [
            {"couple_id": "c1", "timezone": "UTC"},
            {"couple_id": "c2", "timezone": "Europe/Rome"},
        ]
    }
    exp = load_export(export_dir(tmp_path, {"events.csv": text}, man))
    sub = exp.for_couple("c2")
    assert sub.couples == ["c2"] and sub.timezones == {"c2": "Europe/Rome"}
    assert sub.events["couple_id"].tolist() == ["c2"]
    assert sub.quarantine["row"].tolist() == [3]
    assert sub.manifest["couples"] == [{"couple_id": "c2", "timezone": "Europe/Rome"}]
    s = sub.summary().set_index("table").loc["events"]
    assert (s["rows_in"], s["rows_loaded"], s["rows_quarantined"]) == (2, 1, 1)
    with pytest.raises(ValueError, match=r"couple_id must be one of \['c1', 'c2'\]; got 'c3'"):
        exp.for_couple("c3")


# --------------------------------------------------------------------------------------
# Property test: random messy tables


_CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "NA",
            "007",
            "c1",
            "c2",
            "a",
            "b",
            "z",
            "bid",
            "toward",
            "hug",
            "2026-03-29 02:30",
            "2026-03-01T10:00:00+01:00",
            "1772355600",
            "45678.5",
            "yes",
            "nope",
            "0.5",
            "1e400",
            "-3",
            "\u00e9t\u00e9",
            '"',
            "'",
            "\\",
            "=1+1",
            "nan",
            "inf",
            "2026-13-01",
        ]
    ),
    st.text(alphabet=string.printable + "éü€\u2028", max_size=8),
    st.integers(-(10**15), 10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@settings(
    max_examples=int(os.environ.get("PATTERNS_IO_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    table=st.sampled_from(["events", "checkins"]),
    extra=st.lists(
        st.sampled_from(
            ["intensity", "connection", "conflict", "tension", "note", "bid_id", "junk"]
        ),
        max_size=3,
        unique=True,
    ),
    rows=st.lists(st.lists(_CELLS, min_size=0, max_size=9), max_size=25),
    dup=st.integers(0, 3),
    delim=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    fmt=st.sampled_from(["csv", "jsonl"]),
)
def test_property_random_messy_tables_keep_row_accounting(
    tmp_path_factory, table, extra, rows, dup, delim, encoding, fmt
):
    cols = [c.name for c in schema.columns_of(table) if c.required] + extra
    rows = rows + rows[:dup]
    d = tmp_path_factory.mktemp("prop")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delim, lineterminator="\r\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(r)
        (d / f"{table}.csv").write_bytes(buf.getvalue().encode(encoding, errors="replace"))
    else:
        lines = [json.dumps(dict(zip(cols, r, strict=False))) for r in rows]
        (d / f"{table}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        exp = load_export(d, timezone="Europe/Amsterdam")
    except ExportError as exc:
        assert "internal" not in str(exc)
        return
    assert_accounting(exp)
    s = exp.summary().set_index("table").loc[table]
    # Independent count of data rows: csv.writer writes an empty list as a blank line.
    expected = sum(1 for r in rows if r) if fmt == "csv" else len(rows)
    assert s["rows_in"] == expected
    q = exp.quarantine
    assert set(q["reason"]) <= set(schema.QUARANTINE_REASONS)
    assert ((q["row"] >= 1) & (q["row"] <= max(s["rows_in"], 1) + len(rows))).all()
    frame = getattr(exp, table)
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert not frame.duplicated().any()
    assert frame[[c.name for c in schema.columns_of(table) if c.required]].notna().all().all()


def test_hidden_files_and_other_folders_are_ignored(tmp_path):
    d = export_dir(tmp_path, {"events.csv": EVENTS, ".events.csv": "garbage", "notes.txt": "x"})
    (d / "truth").mkdir()
    (d / "truth" / "events.csv").write_text("garbage")
    exp = load_export(d)
    assert len(exp.events) == 4
    assert exp.sources["file"].tolist() == ["events.csv"]


def test_folder_symlink_outside_export_rejected(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(EVENTS)
    d = export_dir(tmp_path, {})
    os.symlink(outside, d / "events.csv")
    with pytest.raises(ExportError, match="symlink pointing outside"):
        load_export(d)


# --------------------------------------------------------------------------------------
# The committed sample export (written by the simulator)


def test_sample_export_loads_cleanly_and_matches_the_simulator(sample_path):
    assert (sample_path / "events.csv").exists(), "data/sample is committed; run `make sample`"
    from patterns.simulate import simulate_export

    exp = load_export(sample_path)
    assert exp.quarantine.empty
    assert_accounting(exp)
    # data/sample/README.md: make sample = simulate --couples 4 --days 120 --seed 20261126
    sim = simulate_export(couples=4, days=120, seed=20261126)
    pd.testing.assert_frame_equal(exp.events, sim.events.reset_index(drop=True))
    pd.testing.assert_frame_equal(exp.checkins, sim.checkins.reset_index(drop=True))
    assert exp.manifest == json.loads(json.dumps(sim.manifest))
    assert exp.couples == sorted(sim.events["couple_id"].unique())
    for c in sim.manifest["couples"]:
        assert exp.timezones[c["couple_id"]] == c["timezone"]
        assert exp.partners[c["couple_id"]] == c["partners"]


def test_manifest_numbers_stay_numbers_in_single_json(tmp_path):
    p = tmp_path / "export.json"
    p.write_text(
        json.dumps(
            {
                "manifest": {"scales": {"connection": [1, 7]}, "n": 2},
                "checkins": [
                    {"couple_id": "c", "partner": "a", "ts": "2026-01-01", "connection": 7}
                ],
            }
        )
    )
    exp = load_export(p)
    assert exp.manifest == {"scales": {"connection": [1, 7]}, "n": 2}
    assert exp.checkins["connection"].tolist() == [10.0]
    # the one parse gives the manifest every JSON number back (nested, exponent, big int,
    # NaN) while the tables keep numbers as their text (the couple id 7 stays "7")
    man = '{"n": 2, "r": 1.5e-3, "big": 12345678901234567890, "deep": [{"x": -0.0}], "z": NaN}'
    p.write_text(
        '{"manifest": ' + man + ', "events": [{"couple_id": 7, "ts": "2026-01-01T10:00:00Z",'
        ' "actor": "a", "code": "bid", "intensity": 0.50}]}'
    )
    exp = load_export(p)
    want = json.loads(man)
    assert exp.manifest.keys() == want.keys() and np.isnan(exp.manifest.pop("z"))
    assert exp.manifest == {k: v for k, v in want.items() if k != "z"}
    assert not any(isinstance(v, str) for v in exp.manifest.values())
    assert exp.events["couple_id"].tolist() == ["7"] and exp.events["intensity"].tolist() == [0.5]


# --------------------------------------------------------------------------------------
# patterns validate


def test_cli_validate_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from patterns.cli import app

    runner = CliRunner()
    clean = export_dir(tmp_path / "clean", {"events.csv": EVENTS})
    res = runner.invoke(app, ["validate", str(clean)])
    assert res.exit_code == 0, res.output
    assert "No rows quarantined" in res.output and "rows_in" in res.output
    res = runner.invoke(app, ["validate", str(clean), "--strict"])
    assert res.exit_code == 0
    messy = EVENTS + "007,never,a,bid,,,,private note\n"
    bad = export_dir(tmp_path / "bad", {"events.csv": messy})
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 0
    assert "bad_timestamp" in res.output and "private note" not in res.output
    res = runner.invoke(app, ["validate", str(bad), "--strict"])
    assert res.exit_code == 1
    assert "--strict: 1 row(s) were quarantined" in res.output
    res = runner.invoke(app, ["validate", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    dst = export_dir(
        tmp_path / "dst", {"events.csv": "couple_id,ts,actor,code\nc,2026-03-29 02:30,a,bid\n"}
    )
    res = runner.invoke(app, ["validate", str(dst), "--timezone", "Europe/Amsterdam"])
    assert res.exit_code == 0 and "dst_nonexistent" in res.output
    mixed = export_dir(tmp_path / "mixed", {"events.csv": _mixed_events()})
    res = runner.invoke(app, ["validate", str(mixed), "--strict"])
    assert res.exit_code == 0 and "not_utf8" in res.output and "Loaded with a notice" in res.output
    res = runner.invoke(app, ["validate", str(dst), "--timezone", "Mars/Base"])
    assert res.exit_code == 2 and "not a known IANA zone" in res.output


# --------------------------------------------------------------------------------------
# Hostile and odd inputs: quarantine or ExportError, never another exception


def test_odd_timestamps_never_crash(tmp_path):
    text = (
        "couple_id,ts,actor,code\n"
        "c1,1/1/2999,a,bid\n"  # day/month form, far future (beyond ns range before checks)
        "c1,2026-03-01T10:00:00+25:00,a,bid\n"  # impossible offset
        "c1,13/13/2026,a,bid\n"
        "c1,0,a,bid\n"
        "c1, 2026-03-01T10:00:00Z ,a,bid\n"  # surrounding spaces are fine
    )
    exp = load_export(export_dir(tmp_path, {"events.csv": text}))
    assert exp.quarantine["row"].tolist() == [1, 2, 3, 4]
    assert set(exp.quarantine["reason"]) == {"bad_timestamp"}
    assert exp.events["ts"].tolist() == [pd.Timestamp("2026-03-01T10:00:00Z")]


@pytest.mark.parametrize(
    ("mapping", "pattern"),
    [
        ({"ts_format": "%Q"}, "`ts_format` '%Q' is not usable"),
        ({"skip_rows": -1}, r"`skip_rows` must be a whole number ≥ 0"),
        ({"skip_rows": "two"}, r"`skip_rows` must be a whole number ≥ 0"),
        ({"keep": {"Status": ["0"]}}, "mapping `keep` names column 'Status'"),
        ({"wide": {"suffixes": {"_A": "a"}}}, "no couple column 'couple_id'"),
        ({"rename": ["a"]}, "`rename` must be a mapping"),
        ({"na_values": "NA"}, "`na_values` must be a list"),
        ({"ts_offset": {"column": "nope"}}, "`ts_offset` needs an existing `column`"),
        ({"delimiter": ";;"}, "`delimiter` must be one character"),
    ],
)
def test_mapping_errors_are_export_errors(tmp_path, mapping, pattern):
    d = export_dir(
        tmp_path,
        {
            "events.csv": "couple_id,ts,actor,code\nc1,x,a,bid\n",
            "checkins.csv": "dyad,partner,ts\nc1,a,2026-01-01\n",
        },
    )
    with pytest.raises(ExportError, match=pattern):
        load_export(d, mapping=mapping)


def test_manifest_errors_are_export_errors(tmp_path):
    for i, man in enumerate(
        [
            [1, 2],
            {"couples": "c1"},
            {"couples": [{"timezone": "UTC"}]},
            {"couples": [{"couple_id": "c1", "partners": [{"name": "x"}]}]},
            {"scales": {"connection": "0-10"}},
        ]
    ):
        d = export_dir(tmp_path / str(i), {"events.csv": EVENTS}, man)
        with pytest.raises(ExportError, match="manifest"):
            load_export(d)


def test_no_tables_and_glob_never_reads_the_manifest(tmp_path):
    d = export_dir(tmp_path, {"notes.txt": "hello"}, {"timezone": "UTC"})
    with pytest.raises(ExportError, match=r"found no table files .* files present"):
        load_export(d)
    d2 = export_dir(tmp_path / "g", {"a.json": json.dumps(_records())}, {"timezone": "UTC"})
    exp = load_export(d2, mapping={"tables": {"events": "*.json"}})
    assert len(exp.events) == 4


def test_deeply_nested_json_and_binary_garbage(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ExportError, match="not valid JSON"):
        load_export(export_dir(tmp_path / "a", {"events.json": deep}))
    garbage = bytes(range(256)) * 50
    with pytest.raises(ExportError):
        load_export(export_dir(tmp_path / "b", {"events.csv": garbage}))
    nul = EVENTS.replace("hello there", "hel\x00lo").encode()
    exp = load_export(export_dir(tmp_path / "c", {"events.csv": nul}))
    assert_accounting(exp)


def test_result_tables_are_tidy(tmp_path):
    from patterns.testing import assert_tidy, check_contract

    text = EVENTS + "007,2026-03-29 02:30,a,bid,,,,\n007,bad,a,bid,,,,\n"
    exp = load_export(export_dir(tmp_path, {"events.csv": text}), timezone="Europe/Amsterdam")
    summary = check_contract(Export.summary, exp)
    assert summary["rows_dst_adjusted"].tolist() == [1, 0]
    for frame in (exp.quarantine, exp.notices, exp.sources):
        assert_tidy(frame)
    assert list(exp.quarantine.columns[:6]) == [
        "table",
        "source",
        "row",
        "column",
        "reason",
        "detail",
    ]


def test_partner_actor_hints(tmp_path):
    with pytest.raises(ExportError, match="did you mean `partner` → map it to `actor`"):
        load_export(
            export_dir(
                tmp_path / "e", {"events.csv": "couple_id,ts,partner,code\nc1,2026-01-01,a,bid\n"}
            )
        )
    with pytest.raises(ExportError, match="did you mean `actor` → map it to `partner`"):
        load_export(
            export_dir(
                tmp_path / "c",
                {"checkins.csv": "couple_id,ts,actor,connection\nc1,2026-01-01,a,5\n"},
            )
        )


def test_old_mac_line_endings(tmp_path):
    exp = load_export(export_dir(tmp_path, {"events.csv": EVENTS.replace("\n", "\r")}))
    assert len(exp.events) == 4 and exp.quarantine.empty


def test_xlsx_workbook_with_both_tables_as_sheets(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    with pd.ExcelWriter(d / "export.xlsx") as xw:
        pd.DataFrame(_records()).to_excel(xw, sheet_name="Events", index=False)
        pd.read_csv(io.StringIO(CHECKINS), dtype=str).to_excel(
            xw, sheet_name="checkins", index=False
        )
        pd.DataFrame({"x": [1]}).to_excel(xw, sheet_name="notes", index=False)
    exp = load_export(d)
    assert len(exp.events) == 4 and len(exp.checkins) == 2
    assert exp.events["couple_id"].iloc[0] == "007"
    assert exp.sources["table"].tolist() == ["checkins,events"]
    direct = load_export(d / "export.xlsx")  # a workbook can be the export itself
    pd.testing.assert_frame_equal(direct.checkins, exp.checkins)


# --- field limit: an overlong cell quarantines only its row ---------------------------------


@pytest.mark.parametrize(
    "layout", ["plain", "quoted_multiline", "ragged", "ragged_exact", "jsonl", "wide"]
)
def test_overlong_field_quarantines_only_its_row(tmp_path, monkeypatch, layout):
    from patterns import io as pio
    from patterns.io import MAX_FIELD_BYTES

    if layout == "ragged_exact":  # the exact (Python csv) path: its own field limit lifted
        monkeypatch.setattr(pio, "_RAGGED_MAX", -1)

    big = "é" * (MAX_FIELD_BYTES // 2 + 1)  # 2 bytes each in UTF-8: just over the limit
    size = len(big.encode("utf-8"))
    detail = f"note is {size:,} bytes, over the {MAX_FIELD_BYTES:,}-byte field limit"
    head = "couple_id,ts,actor,code,note\n"
    ok1 = "c1,2026-03-01T10:00:00Z,a,bid,hi\n"
    ok2 = "c1,2026-03-01T10:05:00Z,a,bid,there\n"
    table, want_row, want_loaded = "events", 2, 2
    if layout == "plain":
        files = {"events.csv": head + ok1 + f"c1,2026-03-01T10:01:00Z,b,toward,{big}\n" + ok2}
    elif layout == "quoted_multiline":
        files = {
            "events.csv": head
            + 'c1,2026-03-01T10:00:00Z,a,bid,"two\nlines"\n'
            + f'c1,2026-03-01T10:01:00Z,b,toward,"{big}\n{big[:10]}"\n'
            + ok2
        }
        detail = detail.replace(f"{size:,}", f"{size + 21:,}")
    elif layout.startswith("ragged"):  # placed among pyarrow's rows, or the csv path
        files = {
            "events.csv": head
            + ok1
            + f"c1,2026-03-01T10:01:00Z,b,toward,{big}\n"
            + ok2
            + "c1,2026-03-01T10:06:00Z\n"
        }
    elif layout == "jsonl":
        recs = [
            {"couple_id": "c1", "ts": "2026-03-01T10:00:00Z", "actor": "a", "code": "bid"},
            {"couple_id": "c1", "ts": "2026-03-01T10:01:00Z", "actor": "b", "code": "toward"},
            {"couple_id": "c1", "ts": "2026-03-01T10:05:00Z", "actor": "a", "code": "bid"},
        ]
        recs[1]["note"] = big
        files = {"events.jsonl": "\n".join(json.dumps(r) for r in recs) + "\n"}
    else:  # a wide diary: the source row's cell is over, both partner rows are quarantined
        table, want_loaded = "checkins", 2
        files = {
            "daily.csv": "dyad,ts,connection_A,connection_B,answer_A\n"
            "d1,2026-03-01 21:00,5,6,fine\n"
            f"d1,2026-03-02 21:00,5,6,{big}\n"
        }
        detail = detail.replace("note is", "answer_A is")
    mapping = {"wide": {"suffixes": {"_A": "a", "_B": "b"}, "couple_column": "dyad"}}
    limit = csv.field_size_limit()
    exp = load_export(
        export_dir(tmp_path, files),
        timezone="UTC",
        mapping=mapping if layout == "wide" else None,
    )
    assert csv.field_size_limit() == limit  # the process-wide csv limit is restored
    q = exp.quarantine[exp.quarantine["reason"] == "field_too_large"]
    if layout == "wide":
        assert q[["row", "column"]].values.tolist() == [[2, "answer_A"], [2, "answer_A"]]
    else:
        assert q[["row", "column"]].values.tolist() == [[want_row, "note"]]
    assert set(q["detail"]) == {detail}
    assert len(getattr(exp, table)) == want_loaded
    if layout.startswith("ragged"):
        assert exp.quarantine["reason"].tolist() == ["field_too_large", "ragged_row"]
    else:
        assert exp.quarantine["reason"].eq("field_too_large").all()
    assert_accounting(exp)
    if table == "events":  # nothing of the huge cell survives in any table
        assert exp.events["note"].fillna("").str.len().max() < 100


def test_field_at_the_limit_loads_and_strict_refuses_overlong(tmp_path):
    from patterns.io import MAX_FIELD_BYTES

    head = "couple_id,ts,actor,code,note\n"
    at = "x" * MAX_FIELD_BYTES
    d = export_dir(tmp_path, {"events.csv": head + f"c1,2026-03-01T10:00:00Z,a,bid,{at}\n"})
    exp = load_export(d)
    assert exp.quarantine.empty and exp.events["note"].str.len().tolist() == [MAX_FIELD_BYTES]
    (d / "events.csv").write_text(head + f"c1,2026-03-01T10:00:00Z,a,bid,{at}x\n")
    with pytest.raises(ExportError, match=r"row 1 column note: field_too_large \(note is 1,048,5"):
        load_export(d, strict=True)


@pytest.mark.parametrize("order", ["time", "couple_then_time", "shuffled"])
def test_duplicate_filter_equals_pandas_duplicated(order):
    # Oracle: pandas' DataFrame.duplicated on the whole frame; the loader's candidate
    # filter (neighbours in time order, else a hash table) must find exactly the same rows.
    from patterns.io import _confirm_duplicates, _duplicate_candidates

    def _duplicated(f, codes, rows=None):  # the loader's two steps, as _finish runs them
        return _confirm_duplicates(len(f), *_duplicate_candidates(f, codes), rows)

    rng = np.random.default_rng(7)
    n = 4000
    f = pd.DataFrame(
        {
            "couple_id": pd.array(rng.choice(["c1", "c2", "c3"], n), dtype="string"),
            "ts": pd.to_datetime(rng.integers(0, 300, n), unit="s", utc=True),
            "actor": pd.array(rng.choice(["a", "b"], n), dtype="string"),
            "intensity": rng.choice([0.5, 1.0, np.nan], n),
        }
    )
    f = pd.concat([f, f.sample(500, random_state=1)], ignore_index=True)  # planted copies
    if order == "time":
        f = f.sort_values("ts", kind="stable", ignore_index=True)
    elif order == "couple_then_time":
        f = f.sort_values(["couple_id", "ts"], kind="stable", ignore_index=True)
    else:
        f = f.sample(frac=1, random_state=2).reset_index(drop=True)
    codes = pd.factorize(f["couple_id"])[0]
    got = _duplicated(f, codes)
    want = f.duplicated(keep="first").to_numpy()
    assert want.sum() >= 500 and (got == want).all()
    # among some rows only (the others quarantined): as pandas on those rows
    rows = np.flatnonzero(rng.random(len(f)) < 0.7)
    got = _duplicated(f, codes, rows)
    want = np.zeros(len(f), bool)
    want[rows] = f.iloc[rows].duplicated(keep="first").to_numpy()
    assert want.sum() >= 200 and (got == want).all()


def test_tables_equal_schema_coerce_dtypes_with_absent_optional_columns(tmp_path):
    # Oracle: schema.coerce_dtypes (the contract's own coercion); the loader builds its
    # tables without it (no copy) and must give the identical frame, absent columns included.
    d = export_dir(
        tmp_path,
        {
            "events.csv": "couple_id,ts,actor,code,note\n"
            "c1,2026-03-01T10:00:00Z,a,bid, \nc1,2026-03-01T10:01:00Z,b,toward,hi\n",
            "checkins.csv": "couple_id,partner,ts,connection\nc1,a,2026-03-01T10:00:00Z,5\n",
        },
    )
    exp = load_export(d)
    for table in ("events", "checkins"):
        df = getattr(exp, table)
        pd.testing.assert_frame_equal(df, schema.coerce_dtypes(df, table))
        assert list(df.columns) == [c.name for c in schema.columns_of(table)]
    assert exp.events["note"].isna().tolist() == [True, False]
    assert exp.events["bid_type"].isna().all() and exp.checkins["stress"].isna().all()


def test_ascii_trim_matches_unicode_trim():
    # Oracle: pyarrow's Unicode utf8_trim_whitespace; the ASCII shortcut must agree on
    # every ASCII character at both ends (incl. U+001C–U+001F, which it also strips).
    import pyarrow as pa
    import pyarrow.compute as pc

    from patterns.io import _trim

    vals = pa.array([chr(i) + "x" + chr(i) for i in range(128)], pa.large_string())
    got, ascii_only = _trim(vals)
    assert ascii_only and got.to_pylist() == pc.utf8_trim_whitespace(vals).to_pylist()
    got, ascii_only = _trim(pa.array(["\u00a0Zoë\u2003", " a "], pa.large_string()))
    assert not ascii_only and got.to_pylist() == ["Zoë", "a"]


def test_field_longer_than_two_parse_blocks_reparses_and_keeps_every_row(tmp_path):
    # A 3 MiB cell cannot fit pyarrow's 1 MiB parse blocks ("straddling object"): the file
    # is parsed again as one block; every other row still loads, in order, row numbers true.
    rows = [
        f"c1,2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z,{'ab'[i % 2]},bid,b{i}"
        for i in range(6000)
    ]
    rows.insert(3000, "c1,2026-03-02T10:00:00Z,a,bid,big," + "z" * (3 << 20))
    text = (
        "couple_id,ts,actor,code,bid_id,note\n"
        + "\n".join(r if r.count(",") == 5 else r + "," for r in rows)
        + "\n"
    )
    exp = load_export(export_dir(tmp_path, {"events.csv": text}))
    assert exp.quarantine[["row", "column", "reason"]].values.tolist() == [
        [3001, "note", "field_too_large"]
    ]
    assert exp.events["bid_id"].tolist() == [f"b{i}" for i in range(6000)]
    assert_accounting(exp)
