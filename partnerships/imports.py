"""Bulk import of donations and regions from CSV or XLSX, previewed before anything is saved.

`preview_*` reads and checks a file without writing; `save_*` writes it in one transaction,
after checking again (the database may have changed since the preview). Every problem names
the spreadsheet row (the header is row 1), the column and what is wrong, in the user's language.

The donation format is the ledger export (exports.LEDGER_COLUMNS): rows with the same handover
number are one donation; "itemised" rows are its lines; the "not itemised" row, when present,
must hold exactly the rest. Donation-level rules are the admin's own (forms.DonationForm).
"""

from __future__ import annotations

import csv
import datetime
import difflib
import io
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Prefetch
from django.forms.models import model_to_dict
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import access, exports, history, punctuation, summary
from .forms import (
    CONTROL_CHARACTERS,
    DonationForm,
    line_donor_error,
    line_organisation_error,
    line_outside_recipients_error,
    recipient_places,
    without_invisible,
)
from .models import (
    NO_DATE_NOR_VISIT,
    REGION_ANCESTORS,
    Category,
    Donation,
    DonationKind,
    DonationLine,
    Funding,
    Organisation,
    Partnership,
    Region,
    Visit,
    outside_pairing_years,
)
from .money import from_full_width, parse_amount

MAX_ROWS = 20_000
NAME_SEPARATORS = re.compile(r"[、,，;；]")


class UnreadableFile(Exception):
    """The file is not a CSV or XLSX we can read; the message says why, for the user."""


@dataclass
class Problem:
    row: int
    column: str
    message: str


@dataclass
class Preview:
    kind: str
    headers: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # What to check but not refused: a handover dated outside its pairing's years, or like
    # one recorded but for its recipients or lines.
    warnings: list[Problem] = field(default_factory=list)

    @property
    def warned_rows(self) -> int:
        """How many handovers (told by their first row) are listed to check: one may be
        listed twice (dated outside its pairing's years and like one recorded)."""
        return len({warning.row for warning in self.warnings})

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.items)


# Reading files ------------------------------------------------------------------------


# Excel's and WPS's "Unicode text" (Unicode 文本, *.txt): UTF-16 with its byte order mark.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 (with BOM) or GB18030/GBK, as Excel and WPS save
    them in China."""
    if data.startswith(UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise UnreadableFile(
                _(
                    "The file starts as Unicode text (UTF-16) but is not valid UTF-16. Save it "
                    "again as CSV (UTF-8)."
                )
            ) from error
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnreadableFile(
                _("The file starts as UTF-8 but is not valid UTF-8. Save it again as CSV (UTF-8).")
            ) from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as error:
        raise UnreadableFile(
            _("The file is neither UTF-8 nor GB18030/GBK text. Save it as CSV (UTF-8) or XLSX.")
        ) from error


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        # Spreadsheet numbers are binary floats, kept to 17 digits and shown to 15, as Excel
        # and WPS compute and show them: =50000*1.1 is kept as 55000.00000000001 and shown as
        # 55,000.00. Read as shown, to 15 significant digits, not refused for the fen.
        return format(Decimal(format(value, ".15g")), "f")
    return str(value)


# No file of ours has this many columns; the rest of a wider sheet is not read.
MAX_COLUMNS = 64


# The starts of files clerks upload by mistake: Word and old Excel (OLE2), PDF, RTF.
NOT_A_TABLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"%PDF", b"{\\rtf")


def _not_csv_nor_xlsx() -> UnreadableFile:
    return UnreadableFile(
        _("Upload a CSV or XLSX file (save an old Excel .xls file as .xlsx first).")
    )


def _is_xlsx(data: bytes) -> bool:
    """A zip holding a workbook (a .docx is a zip too). False for a damaged zip: read_rows
    then says it cannot open the workbook, rather than calling it something else."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return True


def _looks_binary(data: bytes) -> bool:
    """Text has few control bytes; Word, old Excel and the like are full of them. One NUL in
    a CSV is said by its row (see read_rows), not taken for a binary file."""
    sample = data[:4096]
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r")
    return controls * 20 > len(sample)


# A formula saved with no result in a sheet's XML: its <f> (or a shared formula's <f …/>)
# followed by an empty <v/>, <v></v> or by the cell's end, with or without a namespace
# prefix. Excel and WPS save every formula's result; a program (openpyxl) may not.
FORMULA_WITHOUT_RESULT = re.compile(
    rb"(?:</(?:[A-Za-z_][\w.-]*:)?f>|<(?:[A-Za-z_][\w.-]*:)?f\b[^>]*/>)\s*"
    rb"(?:<(?:[A-Za-z_][\w.-]*:)?v\s*/>|<(?:[A-Za-z_][\w.-]*:)?v>\s*</|</(?:[A-Za-z_][\w.-]*:)?c>)"
)
# How much of a sheet's XML is looked through for one, unpacked a chunk at a time: a
# worksheet part may unpack to gigabytes from a few compressed bytes.
FORMULA_SCAN_LIMIT = 256 * 1024 * 1024


def _windows(archive: zipfile.ZipFile, parts: list[str]) -> Iterator[bytes]:
    """The XML of these parts of a workbook, a megabyte at a time, each window starting with
    the last 256 bytes of the one before in its part (so a tag split between two reads is
    still found), up to FORMULA_SCAN_LIMIT bytes in all: never unpacked whole (a part of a
    few bytes may unpack to gigabytes)."""
    scanned = 0
    for name in parts:
        tail = b""
        with archive.open(name) as part:
            while chunk := part.read(1024 * 1024):
                yield tail + chunk
                tail = chunk[-256:]
                scanned += len(chunk)
                if scanned > FORMULA_SCAN_LIMIT:
                    return


def _may_lack_formula_results(data: bytes, sheet_path: str | None) -> bool:
    """Whether the sheet's XML (`sheet_path`, else every sheet's) holds a formula
    saved with no result: only then is it read a second time, for its formulas."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            parts = (
                [sheet_path.lstrip("/")]
                if sheet_path and sheet_path.lstrip("/") in names
                else [
                    name
                    for name in names
                    if name.startswith("xl/worksheets/") and name.endswith(".xml")
                ]
            )
            return any(FORMULA_WITHOUT_RESULT.search(window) for window in _windows(archive, parts))
    except Exception:  # a damaged part (zlib.error and the like): the sheet's read says so
        return False


MERGED_CELLS = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref\s*=\s*[\"']"
    rb"\$?([A-Za-z]{1,3})\$?([0-9]{1,7}):\$?([A-Za-z]{1,3})\$?([0-9]{1,7})[\"']"
)


def _merged_down(data: bytes, sheet_path: str | None) -> list[tuple[int, int, int]]:
    """The sheet's cells merged over more than one row (`sheet_path`), each as its first and
    last row and its first column, counted from 0: read row by row, such a range's value is
    in its first row only (see map_rows)."""
    from openpyxl.utils import column_index_from_string

    found: set[tuple[int, int, int]] = set()
    if not sheet_path:
        return []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for window in _windows(archive, [sheet_path.lstrip("/")]):
                for match in MERGED_CELLS.finditer(window):
                    first_column, first_row, _last_column, last_row = match.groups()
                    if int(last_row) > int(first_row):
                        column = column_index_from_string(first_column.decode().upper())
                        found.add((int(first_row) - 1, int(last_row) - 1, column - 1))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError):  # the sheet's read said so
        return []
    return sorted(found)


# Cells merged down several rows are named one range each, up to this many.
MERGES_SAID = 10


class Rows(list):
    """A file's rows as text (read_rows), and an XLSX's cells merged down several rows."""

    merged_down: list[tuple[int, int, int]] = []


def _first_visible(workbook):
    """The sheet read: the first one staff can see. A template's hidden first sheet (its
    lists of choices, 下拉选项) is no table, and was read as one missing every column."""
    return next(
        (sheet for sheet in workbook.worksheets if sheet.sheet_state == "visible"),
        workbook.worksheets[0],
    )


def _refuse_formulas_without_values(data: bytes, unsaved: list[set[int]]) -> None:
    """Excel and WPS save each formula's result beside it, and that result is what is read.
    A file written by a program (openpyxl, a report tool) may hold formulas with no result:
    such a cell was read as empty, and a computed amount was then said to be missing. It is
    named instead, with how to give it its result. `unsaved`: per row of the sheet read,
    the columns read with no value and not as text; a formula's result of empty text
    (=IF(…,"")) is saved as text, and read as an empty cell."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        # `unsaved` may end first: the rows past MAX_ROWS + 1 were not read.
        sheet = _first_visible(workbook).iter_rows(max_col=MAX_COLUMNS, values_only=True)
        for number, (formulas, empty) in enumerate(zip(sheet, unsaved, strict=False), start=1):
            for index in sorted(empty):
                formula = formulas[index] if index < len(formulas) else None
                formula = getattr(formula, "text", formula)  # an array formula's own text
                if isinstance(formula, str) and formula.startswith("="):
                    raise UnreadableFile(
                        _(
                            "Row %(row)d, column %(column)s holds a formula whose result is not "
                            "saved in the file (it was written by a program, not saved by "
                            "Excel). Open the file in Excel or WPS, save it, and upload it "
                            "again; or type the value instead of the formula."
                        )
                        % {"row": number, "column": get_column_letter(index + 1)}
                    )
    finally:
        workbook.close()


def _delimiter(text: str, headings: frozenset[str]) -> str:
    """Commas, or tabs as "Unicode text" and tab-separated files have them: the one that
    splits a row among the top ones into the most headings we read (`headings`, as
    `header_form` writes them). A title above the header (单位：元，截至2024年12月, with a
    comma, or with no tab) and a row of data with commas in its cells do not decide it. With
    no heading found either way, the first line tells, as before: tabs without commas."""
    top = text.splitlines()[:HEADER_SEARCHED]

    def known(delimiter: str) -> int:
        try:
            rows = list(csv.reader(top, delimiter=delimiter))
        except csv.Error:
            return 0
        return max((sum(header_form(cell) in headings for cell in row) for row in rows), default=0)

    tabs, commas = known("\t"), known(",")
    if tabs != commas:
        return "\t" if tabs > commas else ","
    first = next(iter(top), "")
    return "\t" if "\t" in first and "," not in first else ","


def read_rows(data: bytes, filename: str, headings: frozenset[str] = frozenset()) -> Rows:
    """All rows of the first visible sheet (or the CSV), as text, header first, with an
    XLSX's cells merged down several rows (Rows.merged_down). What the file is, is told by
    its content, whatever its name: an XLSX is a zip, a CSV decodes as text."""
    if data.startswith(NOT_A_TABLE) or (data[:4] == b"PK\x03\x04" and not _is_xlsx(data)):
        raise _not_csv_nor_xlsx()
    if data[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a damaged file
            raise UnreadableFile(_("The file could not be opened as an XLSX workbook.")) from error
        rows = []
        unsaved: list[set[int]] | None = None
        try:
            # Where a formula may lack its result: the cells read with no value and not as
            # text (the slower read, for a file that holds such a formula).
            worksheet = _first_visible(workbook)
            sheet_path = getattr(worksheet, "_worksheet_path", None)
            if _may_lack_formula_results(data, sheet_path):
                unsaved = []
            # At most MAX_COLUMNS columns and one row past MAX_ROWS (then refused below): a
            # sheet may declare itself 16,384 columns by a million rows in a few bytes.
            if unsaved is None:
                sheet = worksheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
                for row in sheet:
                    rows.append([_xlsx_text(v) for v in row])
                    if len(rows) > MAX_ROWS + 1:
                        break
            else:
                for cells in worksheet.iter_rows(max_col=MAX_COLUMNS):
                    rows.append([_xlsx_text(cell.value) for cell in cells])
                    unsaved.append(
                        {
                            index
                            for index, cell in enumerate(cells)
                            if cell.value is None and cell.data_type != "str"
                        }
                    )
                    if len(rows) > MAX_ROWS + 1:
                        break
        except Exception as error:  # a damaged sheet: openpyxl raises many kinds
            raise UnreadableFile(_("The file could not be opened as an XLSX workbook.")) from error
        finally:
            workbook.close()
        if unsaved:
            _refuse_formulas_without_values(data, unsaved)
        merged_down = _merged_down(data, sheet_path)
    else:
        # UTF-16 text is half NUL bytes: it is told by its byte order mark instead.
        if not data.startswith(UTF16_BOMS) and _looks_binary(data):
            raise _not_csv_nor_xlsx()
        text = decode(data)
        delimiter = _delimiter(text, headings)
        # strict: a quotation mark left open (a stray " typed at a cell's start) is an error
        # at once; else the rest of the file was read into that one cell, and said to be a
        # note too long.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        rows = []
        started = 1  # the line the row being read starts on: where a quotation mark opened
        try:
            for row in reader:
                rows.append(row[:MAX_COLUMNS])
                if len(rows) > MAX_ROWS + 1:
                    break
                started = reader.line_num + 1
        except csv.Error as error:  # its text is Python's, in English: said in our words
            raise UnreadableFile(
                _(
                    "The CSV file cannot be read from its line %(line)d on (a cell too long, or a "
                    "quotation mark not closed)."
                )
                % {"line": started}
            ) from error
    rows = [[without_invisible(cell).strip() for cell in row] for row in rows]
    for number, row in enumerate(rows, start=1):
        if any(CONTROL_CHARACTERS.search(cell) for cell in row):
            raise UnreadableFile(
                _("Row %(row)d holds a control character (such as NUL), which cannot be saved.")
                % {"row": number}
            )
    while rows and not any(rows[-1]):
        rows.pop()
    if not rows:
        raise UnreadableFile(_("The file is empty."))
    if len(rows) > MAX_ROWS + 1:
        raise UnreadableFile(
            _("The file has more than %(max)d rows; split it into smaller files.")
            % {"max": MAX_ROWS}
        )
    read = Rows(rows)
    if data[:4] == b"PK\x03\x04":
        read.merged_down = merged_down
    return read


def header_form(text: str) -> str:
    """A header as compared: half- and full-width alike (金额(元) typed with the input
    method's half-width brackets is 金额（元）), without spaces or line breaks (a header
    wrapped in its cell with Alt+Enter), in lower case."""
    return "".join(unicodedata.normalize("NFKC", exports.restore(text)).split()).lower()


def header_names(columns: list[exports.Column]) -> dict[str, str]:
    """Every spelling of a column header we accept (key, Chinese, English), as `header_form`
    writes it → the column key."""
    names = {}
    for column in columns:
        names[header_form(column.key)] = column.key
        for language in ("zh-hans", "en"):
            with translation.override(language):
                names[header_form(str(column.header))] = column.key
    return names


BRACKETED = re.compile(r"\([^)]*\)")


def _closest_heading(written: str, headings) -> str | None:
    """The heading (as `header_form` writes it) that `written` is most likely a slip for, if
    one is very close: compared whole, and without what brackets hold (受赠乡镇村 for
    受赠乡镇（街道）和村（社区）, 金额 for 金额（元）). A heading of one character (县), or a
    short Latin one (No), is like too many to tell, and a column of the clerk's own with a
    word of ours (资金来源, 物资数量, 捐赠单位) is not one of ours mistyped: left unread."""
    bare = BRACKETED.sub("", written)
    if len(bare) < (4 if bare.isascii() else 2):
        return None
    best, best_ratio = None, 0.8
    for heading in headings:
        ratio = max(
            difflib.SequenceMatcher(None, written, heading).ratio(),
            difflib.SequenceMatcher(None, bare, BRACKETED.sub("", heading)).ratio(),
        )
        if ratio > best_ratio or (best is None and ratio == best_ratio):
            best, best_ratio = heading, ratio
    return best


# How many rows from the top may hold a title or blank rows above the header.
HEADER_SEARCHED = 10


def map_rows(
    rows: list[list[str]], columns: list[exports.Column], required: list[str], preview: Preview
) -> list[tuple[int, dict[str, str]]]:
    accepted = header_names(columns)

    def key_of(name: str) -> str | None:
        return accepted.get(header_form(name))

    def positions_in(header: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for index, name in enumerate(header):
            key = key_of(name)
            if key and key not in found:
                found[key] = index
        return found

    # The header is the first row with every column needed, after a title and blank rows
    # above it (a merged title such as "2024年捐赠台账", as offices write sheets); when no
    # row has them all, the one with the most columns known, so that what is missing is
    # said on the header's row, not the title's.
    def fitness(index: int) -> tuple[bool, int]:
        found = positions_in(rows[index])
        return all(key in found for key in required), len(found)

    top = range(min(len(rows), HEADER_SEARCHED))
    start = max(top, key=lambda index: (fitness(index), -index))
    header = rows[start]
    preview.headers = header
    positions = positions_in(header)
    labels = {c.key: str(c.header) for c in columns}
    for key in required:
        if key not in positions:
            preview.problems.append(
                Problem(start + 1, labels[key], _("This column is missing from the header row."))
            )
    # A header not known is not read. One close to a column not given (受赠乡镇村 for
    # 受赠乡镇和村) is most likely that column mistyped: read as nothing, its handovers
    # would be saved without their recipients, silently.
    # Against the headings as the templates write them, not the keys (year, note).
    unread = {
        form: key
        for form, key in accepted.items()
        if key not in positions and form != header_form(key)
    }
    for name in header:
        if not name or key_of(name) is not None:
            continue
        close = _closest_heading(header_form(name), unread)
        if close:
            preview.problems.append(
                Problem(
                    start + 1,
                    name,
                    _(
                        "This column heading is not one the import reads, so its values would "
                        "be left out. Did you mean “%(column)s”? Write the heading as the "
                        "template does."
                    )
                    % {"column": labels[unread[close]]},
                )
            )
    # A column twice: only the first would be read, and the other's values left unsaid.
    from openpyxl.utils import get_column_letter

    for index, name in enumerate(header):
        key = key_of(name)
        if key is not None and positions.get(key, index) != index:
            preview.problems.append(
                Problem(
                    start + 1,
                    labels[key],
                    _(
                        "This column appears twice in the header row (columns %(first)s and "
                        "%(second)s): keep one of them, so that no value is left unread."
                    )
                    % {
                        "first": get_column_letter(positions[key] + 1),
                        "second": get_column_letter(index + 1),
                    },
                )
            )
    # Cells merged down several rows below the header (a handover's facts written once for
    # its lines, as offices lay ledgers out) hold their value in the first row only. Filled
    # into every row, a handover whose number is not written would be read as one handover a
    # row, its total counted once for each: each such range is refused, naming its cells.
    below = [merge for merge in getattr(rows, "merged_down", []) if merge[1] > start]
    for first, last, column in below[:MERGES_SAID]:
        preview.problems.append(
            Problem(
                max(first, start + 1) + 1,
                header[column] if column < len(header) else get_column_letter(column + 1),
                _(
                    "Rows %(first)d to %(last)d of column %(column)s are merged into one cell. "
                    "Unmerge them and write the value in each row, then upload the file again."
                )
                % {
                    "first": first + 1,
                    "last": last + 1,
                    "column": get_column_letter(column + 1),
                },
            )
        )
    if len(below) > MERGES_SAID:
        more = len(below) - MERGES_SAID
        preview.problems.append(
            Problem(
                below[MERGES_SAID][0] + 1,
                "",
                ngettext(
                    "%(count)d more range of cells is merged down several rows.",
                    "%(count)d more ranges of cells are merged down several rows.",
                    more,
                )
                % {"count": more},
            )
        )
    if preview.problems:
        return []
    mapped = []
    for number, row in enumerate(rows[start + 1 :], start=start + 2):
        if not any(row):
            continue
        mapped.append(
            (
                number,
                {
                    key: exports.restore(row[index]) if index < len(row) else ""
                    for key, index in positions.items()
                },
            )
        )
    return mapped


# Looking things up by name -------------------------------------------------------------


class Directory:
    """Name lookups with a cache, so a file of thousands of rows costs a few queries per name."""

    def __init__(self, scope: access.Scope = access.ALL):
        self.children_by_parent: dict[int | None, dict[str, Region]] = {}
        self.ending_with: dict[tuple[str, ...], Region | None] = {}
        self.organisations: dict[str, list[Organisation]] | None = None
        self.scope = scope  # names outside it are as unknown as names that do not exist

    def children(self, parent: Region | None) -> dict[str, Region]:
        """The regions directly under `parent` (the provinces under None), by name. Read once
        per parent, so a file naming hundreds of a county's villages, or misspelling them,
        costs one query for them all."""
        key = parent.pk if parent is not None else None
        if key not in self.children_by_parent:
            found = {}
            for child in Region.objects.filter(parent=parent):
                child.parent = parent  # its full name without a query
                found[child.name] = child
            self.children_by_parent[key] = found
        return self.children_by_parent[key]

    def region(self, names: list[str]) -> Region | None:
        node = None
        for name in (n for n in names if n):
            node = self.children(node).get(name)
            if node is None:
                return None
        return node

    def region_by_full_name(self, text: str) -> Region | None:
        """贵州省 铜仁市 江口县, or written without the spaces, as addresses are
        (贵州省铜仁市江口县): the names read from the top down, if they spell out one region
        alone."""
        names = text.split()
        found = self.region(names)
        if found is None and names:
            found = self._written_together("".join(names))
        return found

    def _written_together(self, text: str) -> Region | None:
        """The one region whose names, from its province down, make up `text`, or None (no
        such region, or two)."""
        found: list[Region] = []

        def walk(node: Region | None, rest: str) -> None:
            for name, child in self.children(node).items():
                if len(found) > 1 or not rest.startswith(name):
                    continue
                if rest == name:
                    found.append(child)
                elif child.level < Region.Level.VILLAGE:
                    walk(child, rest[len(name) :])

        walk(None, text)
        return found[0] if len(found) == 1 else None

    def probably_meant(self, names: list[str]) -> Region | None:
        """The one region that names not found probably stand for, or None: a near spelling
        among the places under the same parent (长冈岭村 for 长岗岭村), or, when even the first
        name is not a province, the only region whose full name ends with the names given
        (樟木头镇 for 广东省 东莞市 樟木头镇). A guess to offer, never to use."""
        names = [n for n in names if n]
        node = None
        for index, name in enumerate(names):
            children = self.children(node)
            if name in children:
                node = children[name]
                continue
            # A first name that is no province is more likely a place below one, written
            # without the names above it (示例东市 for 示例东省 示例东市), than a misspelt
            # province: 吉林市 is not 吉林省.
            if index == 0 and (ending := self._only_one_ending_with(names)) is not None:
                return ending
            close = difflib.get_close_matches(name, children, n=2, cutoff=0.6)
            if len(close) == 1:
                meant = self.region([*names[:index], close[0], *names[index + 1 :]])
                if meant is not None:
                    return meant
            return self._only_one_ending_with(names) if index == 0 else None
        return None

    def _only_one_ending_with(self, names: list[str]) -> Region | None:
        key = tuple(names)
        if key not in self.ending_with:
            # name, parent__name, parent__parent__name, ... from the last name backwards
            lookups = {
                "__".join(["parent"] * depth + ["name"]): name
                for depth, name in enumerate(reversed(names))
            }
            found = list(Region.objects.filter(**lookups).select_related(REGION_ANCESTORS)[:2])
            self.ending_with[key] = found[0] if len(found) == 1 else None
        return self.ending_with[key]

    def not_found(self, label: str, text: str, example: str) -> str:
        """Why a full region name in one cell (贵州省 铜仁市 江口县) was not found, for the user."""
        if not text:
            return _("%(column)s is not filled in.") % {"column": label}
        message = _(
            "%(column)s “%(name)s” was not found: write the full name of the region (such as "
            "“%(example)s”), as regions are written in the system."
        ) % {"column": label, "name": text, "example": example}
        meant = self.probably_meant(text.split())
        if meant is None:
            return message
        return _then(message, _("Did you mean “%(name)s”?") % {"name": meant.full_name})

    def place_not_found(self, row: dict[str, str]) -> tuple[str, str]:
        """The column and the words for a line's place (province to village) not found."""
        keys = [c.key for c in exports.REGION_COLUMNS]
        labels = {c.key: str(c.header) for c in exports.REGION_COLUMNS}
        names = [row.get(key, "") for key in keys]
        if not any(names):
            return "village", _("The place of this line is not filled in (province to village).")
        meant = self.probably_meant(names)
        missing = keys[: next(i for i, name in enumerate(names) if name)]
        if missing:
            message = _("%(columns)s not filled in: write the place from its province down.") % {
                "columns": punctuation.joined(labels[key] for key in missing)
            }
            if meant is None:
                return missing[0], message
            return missing[0], _then(
                message, _("Did you mean “%(name)s”?") % {"name": meant.full_name}
            )
        node = None
        filled = [(key, name) for key, name in zip(keys, names, strict=True) if name]
        depth = 0  # of the first name not found (there is one: the place was not found)
        while (child := self.children(node).get(filled[depth][1])) is not None:
            node, depth = child, depth + 1
        key, name = filled[depth]
        words = {"column": labels[key], "name": name}
        if node is None:
            message = _("%(column)s “%(name)s” was not found.") % words
        else:
            message = _("%(column)s “%(name)s” was not found in %(parent)s.") % {
                **words,
                "parent": node.full_name,
            }
        if meant is None:
            return key, message
        if depth == len(filled) - 1:  # named as its column holds it: 长岗岭村 for 长冈岭村
            return key, _then(message, _("Did you mean %(name)s?") % {"name": meant.name})
        return key, _then(message, _("Did you mean “%(name)s”?") % {"name": meant.full_name})

    def named_in(self, text: str, area: Region) -> list[Region]:
        """The places in `area` named `text`: a name (新村), or a name with those above it
        (太平镇 新村, up to its full name), for a county with two villages named alike."""
        names = text.split()
        if len(names) > len(Region.Level):  # more names than a place has above it and itself
            return []
        lookups = {
            "__".join(["parent"] * depth + ["name"]): name
            for depth, name in enumerate(reversed(names))
        }
        return list(
            Region.objects.filter(path__startswith=area.path, **lookups).select_related(
                REGION_ANCESTORS
            )[:10]
        )

    def organisation(self, name: str, near: Region | None) -> tuple[Organisation | None, str]:
        if self.organisations is None:
            self.organisations = defaultdict(list)
            visible = Organisation.objects.filter(access.organisation_q(self.scope))
            for org in visible.select_related("region"):
                self.organisations[org.name].append(org)
        found = self.organisations.get(name, [])
        if len(found) > 1 and near is not None:
            found = [o for o in found if o.region and o.region.is_within(near)] or found
        if len(found) == 1:
            return found[0], ""
        if not found:
            return None, _("There is no organisation named “%(name)s”.") % {"name": name}
        return None, _("Several organisations are named “%(name)s”.") % {"name": name}


def _then(first: str, second: str) -> str:
    """Two sentences: no space between them in Chinese."""
    return first + ("" if punctuation.chinese() else " ") + second


def split_names(text: str) -> list[str]:
    return [name.strip() for name in NAME_SEPARATORS.split(text) if name.strip()]


class NoSuchDay(ValueError):
    """A date written the right way that names no day (2023-13-02, 2023-02-30)."""


def parse_date(text: str) -> datetime.date:
    """A day as staff write it (2023-01-10, 2023/1/10, 2023.1.10 or with Chinese punctuation
    on 2023。1。10, 2023年1月10日), also with a
    time of day after it, as a spreadsheet's date-and-time cell gives one (2025-09-09 15:30,
    2025-09-09T15:30:00), and in full-width characters (２０２３－０１－１０) as the admin
    reads them: the day is what a record keeps."""
    match = re.fullmatch(
        r"([0-9]{4})[-/.。年]([0-9]{1,2})[-/.。月]([0-9]{1,2})日?"
        r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?",
        from_full_width(text),
    )
    if not match:
        raise ValueError(text)
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError as error:
        raise NoSuchDay(text) from error


def date_error(text: str, error: ValueError) -> str:
    """What is wrong with a date parse_date refused, for the user."""
    if isinstance(error, NoSuchDay):
        return _("There is no such day: %(date)s.") % {"date": text}
    return _("Write dates as 2023-01-10.")


def choice_value(text: str, choices: type) -> str | None:
    """A choice given by its code or its label in Chinese or English."""
    lowered = text.strip().lower()
    for value, label in choices.choices:
        if lowered == value:
            return value
        for language in ("zh-hans", "en"):
            with translation.override(language):
                if lowered == str(label).lower():
                    return value
    return None


def not_a_choice(text: str, choices: type) -> str:
    """A value that is none of the choices, and the ones that are, in the user's language."""
    return _("“%(value)s” is not one of the choices. Write one of: %(choices)s.") % {
        "value": text,
        "choices": punctuation.joined(str(label) for label in choices.labels),
    }


def _level_short_forms() -> dict[str, int]:
    """Each part of a level's name that names that level alone: 村 or 社区 for 村（社区）,
    县 or 区 for 县（区）, village or community for "village or community"."""
    levels: dict[str, set[int]] = defaultdict(set)
    for value, label in Region.Level.choices:
        for language in ("zh-hans", "en"):
            with translation.override(language):
                for part in re.split(r"[（）()、,，]| or ", str(label).lower()):
                    if part.strip():
                        levels[part.strip()].add(value)
    return {part: found.pop() for part, found in levels.items() if len(found) == 1}


# The kinds of division each level also holds, as statistics and gazetteers name them (铜仁市
# has 松桃苗族自治县; Inner Mongolia its 盟, 旗 and 苏木). Not 市 alone: a city may be of the
# prefecture level (铜仁市) or of the county level (县级市).
LEVEL_WORDS = {
    "自治区": 1,
    "直辖市": 1,
    "地区": 2,
    "自治州": 2,
    "盟": 2,
    "县级市": 3,
    "自治县": 3,
    "旗": 3,
    "自治旗": 3,
    "林区": 3,
    "特区": 3,
    "镇": 4,
    "乡": 4,
    "民族乡": 4,
    "苏木": 4,
    "嘎查": 5,
    "居委会": 5,
    "村委会": 5,
}


def level_value(text: str) -> int | None:
    """A region's level by its name (Chinese or English, or a part of it naming one level
    alone, or a kind of division of that level: 自治县, 镇) or its number, full-width too."""
    value = choice_value(text, Region.Level) if text else None
    # 1 to 5 ("²" and "①" are digits to str.isdigit, but no number; "５" is 5)
    if value is None and re.fullmatch(r"[1-5１-５]", text.strip()):
        value = int(from_full_width(text.strip()))
    if value is None:
        value = LEVEL_WORDS.get(text.strip())
    return value if value is not None else _level_short_forms().get(text.strip().lower())


# Donations -----------------------------------------------------------------------------

DONATION_REQUIRED = ["helping_region", "assisted_region", "donors", "kind", "handover_total"]


def _is_itemised(text: str) -> bool | None:
    lowered = text.strip().lower()
    for language in ("zh-hans", "en"):
        with translation.override(language):
            if lowered == _("itemised").lower():
                return True
            if lowered in ("", _("not itemised").lower()):
                return False
    return None


@dataclass
class _Handover:
    rows: list[tuple[int, dict[str, str]]]
    form: DonationForm | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    rest_note: str = ""  # the not-itemised row's note, for the line rebalance makes


# The templates' example rows name real places and bodies (so that they show how a name is
# written) in a handover and a village that never were: uploaded as downloaded, one click
# would have saved them. A row marked as the example, in either language, is refused.
EXAMPLE_HANDOVER = gettext_lazy("example")
EXAMPLE_VILLAGE = gettext_lazy("example village")


def _is_example(value: str, marker) -> bool:
    text = " ".join(value.split()).casefold()
    with translation.override("en"):
        english = str(marker)
    with translation.override("zh-hans"):
        chinese = str(marker)
    return text in {english.casefold(), chinese.casefold()}


def _example_row_message() -> str:
    return _(
        "This is the template's example row, not a record of yours: replace it with one "
        "from your records, or delete it."
    )


def preview_donations(data: bytes, filename: str, user=None) -> tuple[Preview, list[_Handover]]:
    preview = Preview(kind="donations")
    columns = exports.LEDGER_COLUMNS
    try:
        rows = read_rows(data, filename, frozenset(header_names(columns)))
    except UnreadableFile as error:
        preview.problems.append(Problem(0, "", str(error)))
        return preview, []
    labels = {c.key: str(c.header) for c in columns}
    mapped = map_rows(rows, columns, DONATION_REQUIRED, preview)
    groups: dict[str, _Handover] = {}
    for number, row in mapped:
        key = row.get("handover") or f"row-{number}"
        groups.setdefault(key, _Handover(rows=[])).rows.append((number, row))
    _check_unnumbered_lines(mapped, labels, preview)
    directory = Directory(access.scope_for(user) if user is not None else access.ALL)
    handovers = list(groups.values())
    # The admin's own form, refusing locked years for this user as the admin page would.
    form_class = type("ImportDonationForm", (DonationForm,), {"user": user})
    for handover in handovers:
        number, first = handover.rows[0]
        if _is_example(first.get("handover", ""), EXAMPLE_HANDOVER):
            preview.problems.append(Problem(number, labels["handover"], _example_row_message()))
        _check_handover(handover, directory, labels, preview, form_class)
        if handover.form is not None and (warning := outside_pairing_years(handover.form.instance)):
            preview.warnings.append(Problem(number, labels["date"], warning))
    _check_duplicates(handovers, labels, preview)
    return preview, handovers


def _check_unnumbered_lines(
    mapped: list[tuple[int, dict[str, str]]], labels: dict[str, str], preview: Preview
) -> None:
    """Rows without a handover number are a handover each. Itemised lines of one handover
    written so (every fact of the handover repeated, no number) were saved as as many
    handovers, its total counted once for each: such rows are a problem, asking for a
    number."""
    first_of: dict[tuple, tuple[int, dict[str, str]]] = {}
    for number, row in mapped:
        if row.get("handover") or _is_itemised(row.get("itemised", "")) is not True:
            continue
        facts = tuple((key, value) for key, value in sorted(row.items()) if key not in _LINE_KEYS)
        if facts not in first_of:
            first_of[facts] = (number, row)
            continue
        first_number, first_row = first_of[facts]
        if row == first_row:
            continue  # the same row twice: the same handover twice (_check_duplicates)
        preview.problems.append(
            Problem(
                number,
                labels["handover"],
                _(
                    "This row and row %(row)d are itemised lines with the same handover (date, "
                    "sides, donors, total and the rest) and no handover number, so each would "
                    "be saved as a handover of its own, the total counted twice. If they are "
                    "lines of one handover, give both the same handover number; if two "
                    "handovers, give each its own."
                )
                % {"row": first_number},
            )
        )


# Who gave what to whom, and when: two handovers equal in these are the same one. What it
# is said to be for (category, funding, a description of the materials) is left out, so a
# row corrected there and imported again is found recorded, not counted a second time.
HANDOVER_FIELDS = ("partnership", "date", "visit", "amount", "kind", "region")
HANDOVER_SETS = ("donors", "recipient_regions", "recipient_organisations")


def _pk(value):
    return getattr(value, "pk", value)


def _handover_key(values: dict[str, Any], lines: list[tuple]) -> tuple:
    """From a donation form's cleaned data or model_to_dict of a donation (objects or pks),
    and its itemised lines as (region, recipient organisation, donor, amount): the same
    gifts itemised to other villages, or to other bodies, are other handovers."""
    return (
        *(_pk(values.get(name)) for name in HANDOVER_FIELDS),
        *(frozenset(_pk(item) for item in values.get(name) or ()) for name in HANDOVER_SETS),
        tuple(sorted(lines, key=str)),
    )


# The giving alone (who gave how much of what, and when), to find a recorded handover
# whose recipients or lines have changed since.
GIVING_FIELDS = ("partnership", "date", "visit", "amount", "kind")


def _given_key(values: dict[str, Any]) -> tuple:
    return (
        *(_pk(values.get(name)) for name in GIVING_FIELDS),
        frozenset(_pk(item) for item in values.get("donors") or ()),
    )


def _file_lines(handover: _Handover) -> list[tuple]:
    return [
        (
            _pk(line["region"]),
            _pk(line.get("recipient_organisation")),
            _pk(line.get("donor")),
            line["amount"],
        )
        for line in handover.lines
    ]


def _check_duplicates(handovers: list[_Handover], labels, preview: Preview) -> None:
    """Refuse a handover already recorded, or given twice in the file: the same giving
    (HANDOVER_FIELDS and HANDOVER_SETS). Importing a file twice, or again with a row's
    category corrected, would otherwise count it twice; one that truly happened twice is
    entered on the admin page, and a recorded one is corrected there."""
    checked = [handover for handover in handovers if handover.form is not None]
    if not checked:
        return
    keys = [
        (_handover_key(handover.form.cleaned_data, _file_lines(handover)), handover)
        for handover in checked
    ]
    data = [handover.form.cleaned_data for handover in checked]
    itemised = DonationLine.objects.filter(is_itemised=True)
    candidates = Donation.objects.filter(
        partnership__in={values["partnership"] for values in data},
        amount__in={values["amount"] for values in data},
    ).prefetch_related(*HANDOVER_SETS, Prefetch("lines", queryset=itemised, to_attr="itemised"))
    recorded = {}
    given = {}  # the same giving, whatever its recipients (_given_key)
    for donation in candidates:
        fields = model_to_dict(donation, fields=HANDOVER_FIELDS + HANDOVER_SETS)
        lines = [
            (line.region_id, line.recipient_organisation_id, line.donor_id, line.amount)
            for line in donation.itemised
        ]
        recorded.setdefault(_handover_key(fields, lines), donation)
        given.setdefault(_given_key(fields), donation)
    column = labels.get("handover_total", "")
    first_row: dict[tuple, int] = {}
    for key, handover in keys:  # in the file's order
        row = handover.rows[0][0]
        if key in recorded:
            message = _(
                "Already recorded: %(donation)s, with the same pairing, date, amount, funds or "
                "materials, receiving region, donors, recipients and lines. Was this file imported "
                "before? To correct the recorded handover (its category, funding or "
                "description), change it on the admin page; a second handover like it is "
                "entered there too."
            ) % {"donation": recorded[key]}
        elif key in first_row:
            message = _(
                "The same handover as row %(row)s of this file (pairing, date, amount, funds or "
                "materials, receiving region, donors, recipients and lines): remove one, or "
                "enter a second handover on the admin page."
            ) % {"row": first_row[key]}
        else:
            first_row[key] = row
            # Recorded with other recipients or lines: itemised or corrected on its admin
            # page after this file was imported, it no longer matched its own row, which was
            # saved again without a word. It may also be a second gift, so it is said, to check.
            same_giving = given.get(_given_key(handover.form.cleaned_data))
            if same_giving is not None:
                preview.warnings.append(
                    Problem(
                        row,
                        column,
                        _(
                            "Perhaps already recorded: %(donation)s has the same pairing, date, "
                            "amount, funds or materials and donors, with other recipients or "
                            "lines (itemised or corrected on its admin page since?). If it is "
                            "this handover, remove the row; it would be counted twice."
                        )
                        % {"donation": same_giving},
                    )
                )
            continue
        preview.problems.append(Problem(row, column, message))


def _check_handover(
    handover: _Handover, directory: Directory, labels, preview: Preview, form_class
) -> None:
    user = form_class.user
    first_number, first = handover.rows[0]

    def problem(number: int, key: str, message: str) -> None:
        preview.problems.append(Problem(number, labels.get(key, key), message))

    # Every row of a handover repeats its facts; they must agree.
    shared = [k for k in labels if k in first and k not in _LINE_KEYS]
    for number, row in handover.rows[1:]:
        for key in shared:
            if row.get(key, "") != first.get(key, ""):
                problem(
                    number,
                    key,
                    _(
                        "Differs from the first row of this handover (row %(row)d: "
                        "“%(value)s”): write it the same in every row of the handover."
                    )
                    % {"row": first_number, "value": first.get(key, "")},
                )

    helping = directory.region_by_full_name(first.get("helping_region", ""))
    assisted = directory.region_by_full_name(first.get("assisted_region", ""))
    if helping is None:
        problem(
            first_number,
            "helping_region",
            directory.not_found(
                labels["helping_region"], first.get("helping_region", ""), "广东省 东莞市 樟木头镇"
            ),
        )
    if assisted is None:
        problem(
            first_number,
            "assisted_region",
            directory.not_found(
                labels["assisted_region"], first.get("assisted_region", ""), "贵州省 铜仁市 江口县"
            ),
        )
    partnership = None
    # A clerk's file is read against their own pairings only: told "you are not assigned to
    # the pairing 粤黔", they learnt which pairings exist outside their scope, and their names,
    # which the dashboard and the downloads never tell.
    scope = access.scope_for(user) if user is not None else access.ALL
    if helping and assisted:
        partnership = (
            Partnership.objects.filter(scope.q(), helping_region=helping, assisted_region=assisted)
            .order_by(F("ended_on").desc(nulls_first=True))
            .first()
        )
        if partnership is None:
            names = {"helping": helping.name, "assisted": assisted.name}
            problem(
                first_number,
                "assisted_region",
                _("There is no pairing of %(helping)s with %(assisted)s.") % names
                if scope.everything
                else _("None of your pairings is of %(helping)s with %(assisted)s.") % names,
            )

    # Columns found wrong before the form sees them: left out of its data, so that the form
    # still checks the rest of the row (a bad date does not hide a bad amount), and its own
    # word on them, which would repeat the problem, left out. Without the pairing the rest
    # of the row is checked all the same; only what needs the pairing (its visit) is not.
    reported: set[str] = set() if partnership else {"assisted_region"}
    data: dict[str, Any] = {
        "partnership": partnership.pk if partnership else "",
        "materials_description": first.get("materials", ""),
        "source": first.get("source", ""),
        "notes": "",
        "date": "",
    }
    if first.get("date"):
        try:
            data["date"] = parse_date(first["date"]).isoformat()
        except ValueError as error:
            problem(first_number, "date", date_error(first["date"], error))
            reported.add("date")
    visit_start = None
    if first.get("visit"):
        try:
            visit_start = parse_date(first["visit"])
        except ValueError as error:
            problem(first_number, "visit", date_error(first["visit"], error))
            reported.add("visit")
    if visit_start is not None and partnership is None:
        reported.add("visit")  # not "give a date, or the visit": it was given
    elif visit_start is not None:
        ancestors = [p.pk for p in partnership.ancestors_and_self]
        # Two at most: more than one is no answer (a delegation each way, or a pairing
        # above it visiting the same day), and the file says no more than the first day.
        visits = list(
            Visit.objects.filter(partnership__in=ancestors, start_date=visit_start)
            .filter(directory.scope.q_with_ancestors("partnership__"))
            .order_by()
            .values_list("pk", flat=True)[:2]
        )
        if not visits:
            problem(
                first_number,
                "visit",
                _("No visit of this pairing starts on %(date)s.") % {"date": visit_start},
            )
            reported.add("visit")
        elif len(visits) > 1:
            problem(
                first_number,
                "visit",
                _(
                    "More than one visit of this pairing, or of a pairing above it, starts on "
                    "%(date)s: leave the visit empty here, and choose it on the handover's page "
                    "in the admin once it is imported."
                )
                % {"date": visit_start},
            )
            reported.add("visit")
        else:
            data["visit"] = visits[0]
    for key, choices, default in (
        ("kind", DonationKind, ""),
        ("category", Category, Category.UNSPECIFIED),
        ("funding", Funding, Funding.UNSPLIT),
    ):
        text = first.get(key) or default
        data[key] = choice_value(text, choices) if text else ""
        if text and data[key] is None:
            problem(first_number, key, not_a_choice(text, choices))
            reported.add(key)
            data[key] = ""
    data["amount"] = first.get("handover_total", "")

    def organisations(key: str, near: Region | None) -> list[int]:
        found = []
        for name in split_names(first.get(key, "")):
            org, message = directory.organisation(name, near)
            if org is None:
                problem(first_number, key, message)
                reported.add(key)  # not also "this field is required" when it was the only one
            else:
                found.append(org.pk)
        return found

    data["donors"] = organisations("donors", helping)
    recipients = []
    for name in split_names(first.get("recipient_regions", "")):
        found = directory.named_in(name, assisted) if assisted else []
        if (
            len(found) == 1
            and len(name.split()) > 1
            and len(directory.named_in(found[0].name, assisted)) == 1
        ):
            # 闵孝镇 双屯村 is the village written with its town, or the town and the village
            # separated by a space: read as the one, it may mean the two. A place is written
            # with the place above it only where it shares its name.
            problem(
                first_number,
                "recipient_regions",
                _(
                    "“%(name)s” reads as one place written with the place above it, which only "
                    "a place named like another needs. If it names several places, separate "
                    "them with 、; if one, write “%(place)s” alone."
                )
                % {"name": name, "place": found[0].name},
            )
            reported.add("recipient_regions")
        elif len(found) == 1:
            recipients.append(found[0].pk)
        elif assisted is None:
            reported.add("recipient_regions")  # looked for in the assisted side, unknown
        elif found:
            # Two villages of the county named alike (新村 under two towns): named with the
            # place above, each is found alone.
            problem(
                first_number,
                "recipient_regions",
                _(
                    "%(region)s has several places named “%(name)s” (%(places)s): write it with "
                    "the place above it, such as “%(example)s”."
                )
                % {
                    "name": name,
                    "region": assisted.name,
                    "places": punctuation.joined(place.full_name for place in found),
                    "example": " ".join(
                        place.name for place in (found[0].parent, found[0]) if place is not None
                    ),
                },
            )
            reported.add("recipient_regions")
        else:
            problem(
                first_number,
                "recipient_regions",
                _("There is no place named “%(name)s” in %(region)s.")
                % {"name": name, "region": assisted.name},
            )
            reported.add("recipient_regions")
    data["recipient_regions"] = recipients
    data["recipient_organisations"] = organisations("recipient_organisations", assisted)
    if first.get("receiving_region"):
        region = directory.region_by_full_name(first["receiving_region"])
        if region is None:
            problem(
                first_number,
                "receiving_region",
                directory.not_found(
                    labels["receiving_region"], first["receiving_region"], "贵州省 铜仁市 江口县"
                ),
            )
            reported.add("receiving_region")
        else:
            data["region"] = region.pk

    form = form_class(data=data)
    if not form.is_valid():
        form_to_column = {
            "partnership": "assisted_region",
            "amount": "handover_total",
            "materials_description": "materials",
            "region": "receiving_region",
            # The handover's day, or, for one dated by its visit alone, the visit's (a locked
            # year was blamed on an empty date).
            "__all__": "date" if first.get("date") or not first.get("visit") else "visit",
        }
        # A visit said to be wrong is left out: "give a date, or the visit" would repeat it.
        repeats = {str(NO_DATE_NOR_VISIT)} if "visit" in reported else set()
        for name, errors in form.errors.items():
            column = form_to_column.get(name, name)
            if column not in reported:
                for error in errors:
                    if error not in repeats:
                        problem(first_number, column, error)
    elif not reported:
        handover.form = form
        _check_year(first.get("year", ""), form.cleaned_data, first_number, problem)
    # The lines are checked against what of the handover is right. Where its assisted side,
    # recipients or receiving region are wrong, where a line may go is not known: not
    # checked, rather than blamed on the line (and its amount still counts towards the rest).
    places = {"recipient_regions", "recipient_organisations", "receiving_region"}
    area = form.cleaned_data.get("region") or assisted
    _check_lines(
        handover,
        directory,
        form.cleaned_data,
        problem,
        area=area if area is not None and not reported & places else None,
    )


_LINE_KEYS = {
    "itemised",
    "province",
    "city",
    "county",
    "town",
    "village",
    "line_organisation",
    "line_donor",
    "amount",
    "note",
}


def _note_too_long(note: str, number: int, problem) -> bool:
    """A line's note longer than the column holds is a problem on its row."""
    if len(note) <= DonationLine._meta.get_field("note").max_length:
        return False
    problem(number, "note", _("The note is longer than 300 characters."))
    return True


def _check_year(written: str, data: dict[str, Any], number: int, problem) -> None:
    """The ledger's year column, when filled in, must be the year the date (or the visit's)
    gives: it is not stored apart, and a year corrected there alone was dropped unsaid."""
    day = data["date"] or (data["visit"].start_date if data["visit"] else None)
    written = from_full_width(written).strip()
    if not written or day is None:
        return
    # 2023, 2023年, 2023年度, or 2023.0 as a spreadsheet's number may read
    year = re.fullmatch(r"([0-9]{4})(?:\s*年度?|\.0+)?", written)
    if year is None:
        problem(number, "year", _("Write the year as 2023, or leave it empty."))
    elif int(year[1]) != day.year:
        problem(
            number,
            "year",
            _(
                "The year %(written)s is not the year of the date, %(year)d: a handover's "
                "year is its date's (or its visit's), so correct the date, or leave the year "
                "empty."
            )
            % {"written": written, "year": day.year},
        )


def _check_lines(
    handover: _Handover, directory: Directory, donation: dict, problem, *, area: Region | None
) -> None:
    """Each line's problems, all of them; against the handover's facts that are right
    (`donation`: the form's cleaned data, which lacks what was wrong). `area`: where the lines
    may go, None when that is not known (the places are then not checked against it)."""
    total = donation.get("amount")
    itemised_sum = Decimal(0)
    rest_given: list[tuple[int, Decimal]] = []
    rest_rows: list[int] = []
    places = recipient_places(
        list(donation.get("recipient_regions") or []),
        list(donation.get("recipient_organisations") or []),
    )
    for number, row in handover.rows:
        flag = _is_itemised(row.get("itemised", ""))
        if flag is None:
            problem(number, "itemised", _("Write “itemised” or “not itemised”."))
            continue
        amount = None
        if row.get("amount"):
            try:
                amount = parse_amount(row["amount"])
                if amount <= 0:
                    raise ValidationError(_("The amount must be greater than zero."))
            except (ValidationError, InvalidOperation) as error:
                problem(number, "amount", " ".join(getattr(error, "messages", [str(error)])))
                amount = None
                if flag:
                    continue
        note = row.get("note", "")
        if not flag:
            if rest_rows:
                # two rests would be read as one, its note the last's: the file is wrong
                problem(number, "itemised", _("A handover has one not-itemised row at most."))
                continue
            rest_rows.append(number)
            if amount is not None:
                rest_given.append((number, amount))
            if note and not _note_too_long(note, number, problem):
                handover.rest_note = note
            _check_rest_row(row, number, donation.get("region"), directory, problem)
            continue
        if amount is None:
            problem(number, "amount", _("An itemised line needs its amount."))
            continue
        # The sum needs only the amount: a line wrong in anything else still counts in it.
        itemised_sum += amount
        ok = not _note_too_long(note, number, problem)
        names = [row.get(k, "") for k in ("province", "city", "county", "town", "village")]
        region = directory.region(names)
        if region is None:
            problem(number, *directory.place_not_found(row))
            ok = False
        elif area is not None and not region.is_within(area):
            problem(
                number,
                "village",
                _("This line must go to %(region)s or a place within it.") % {"region": area.name},
            )
            ok = False
        elif area is not None and (error := line_outside_recipients_error(region, places)):
            problem(number, "village", error)
            ok = False
        line = {"amount": amount, "region": region, "note": note}
        for key, attr, near in (
            ("line_organisation", "recipient_organisation", area),
            ("line_donor", "donor", None),
        ):
            if row.get(key):
                org, message = directory.organisation(row[key], near)
                if org is None:
                    problem(number, key, message)
                    ok = False
                line[attr] = org
        organisation = line.get("recipient_organisation")
        if organisation is not None and region is not None:
            error = line_organisation_error(organisation, region)
            if error:
                problem(number, "line_organisation", error)
                ok = False
        donors = donation.get("donors")
        if line.get("donor") is not None and donors is not None and line["donor"] not in donors:
            problem(number, "line_donor", line_donor_error(line["donor"]))
            ok = False
        if ok:
            handover.lines.append(line)
    if total is None:  # the handover's amount is wrong: said at its column
        return
    if itemised_sum > total:
        problem(
            handover.rows[0][0],
            "amount",
            _(
                "The itemised lines add up to %(lines)s yuan, more than the donation's "
                "%(amount)s yuan."
            )
            % {"lines": f"{itemised_sum:,.2f}", "amount": f"{total:,.2f}"},
        )
    for number, amount in rest_given:
        # Past the total, no rest is right: the lines' problem above says what to correct.
        if itemised_sum <= total and amount != total - itemised_sum:
            problem(
                number,
                "amount",
                _("The not-itemised rest should be %(rest)s yuan.")
                % {"rest": f"{total - itemised_sum:,.2f}"},
            )


def _check_rest_row(
    row: dict[str, str], number: int, region: Region | None, directory: Directory, problem
) -> None:
    """The not-itemised row's cells of a line's own. The rest lies at the receiving region
    (`region`, None when that is wrong and said at its column), with no recipient or donor of
    its own: a village below it, a body or a donor written there were read as nothing,
    without a word. Its place may repeat the receiving region, as the ledger download
    writes it, or name a region above it (the assisted county, as the template does)."""
    keys = ("province", "city", "county", "town", "village")
    names = [row.get(key, "") for key in keys]
    if any(names) and region is not None:
        written = directory.region(names)
        if written is None:
            problem(number, *directory.place_not_found(row))
        elif not region.is_within(written):
            problem(
                number,
                next(key for key in reversed(keys) if row.get(key)),  # the lowest written
                _(
                    "The not-itemised rest goes to the receiving region, %(region)s, not to "
                    "%(place)s: leave the place of this row empty, or write that region. To "
                    "give %(place)s its share, write an itemised line."
                )
                % {"region": region.full_name, "place": written.name},
            )
    for key in ("line_organisation", "line_donor"):
        if row.get(key):
            problem(
                number,
                key,
                _(
                    "A not-itemised row names no recipient or donor of its own: leave this "
                    "empty, or write an itemised line."
                ),
            )


def _problems_by_row(problems: list[Problem]) -> dict[int, list[Problem]]:
    found = defaultdict(list)
    for problem in problems:
        found[problem.row].append(problem)
    return found


def describe_donations(handovers: list[_Handover], problems: list[Problem]) -> list[dict[str, Any]]:
    """Each handover as it will be saved; one with problems as its cells were read, with its
    problems beside it, so the clerk sees how each row was understood."""
    by_row = _problems_by_row(problems)
    items = []
    for handover in handovers:
        found = [p for number, _row in handover.rows for p in by_row.get(number, [])]
        if handover.form is None:
            items.append({**_as_read(handover), "problems": found})
            continue
        data = handover.form.cleaned_data
        items.append(
            {
                "row": handover.rows[0][0],
                "date": data["date"] or (data["visit"].start_date if data["visit"] else None),
                "partnership": str(data["partnership"]),
                "donors": punctuation.joined(d.name for d in data["donors"]),
                "region": data["region"].name,
                "amount": data["amount"],
                "recipients": punctuation.joined(
                    [r.name for r in data["recipient_regions"]]
                    + [o.name for o in data["recipient_organisations"]]
                ),
                "category": Category(data["category"]).label,
                "funding": Funding(data["funding"]).label,
                "kind": DonationKind(data["kind"]).label,
                "lines": punctuation.punct("；").join(
                    f"{line['region'].name} {line['amount']:,.2f}" for line in handover.lines
                ),
                "problems": found,
            }
        )
    return items


def _as_read(handover: _Handover) -> dict[str, Any]:
    """A handover's cells as written (text, not values: some could not be read)."""
    first = handover.rows[0][1]
    places = ("province", "city", "county", "town", "village")
    return {
        "as_read": True,
        "row": handover.rows[0][0],
        "date": first.get("date") or first.get("visit", ""),
        # joined as a pairing's name is, in either language (Partnership.__str__)
        "partnership": "—".join(
            first.get(key, "") for key in ("helping_region", "assisted_region")
        ),
        "donors": first.get("donors", ""),
        "region": first.get("receiving_region", ""),
        "amount": first.get("handover_total", ""),
        "recipients": punctuation.joined(
            name
            for key in ("recipient_regions", "recipient_organisations")
            if (name := first.get(key, ""))
        ),
        "category": first.get("category", ""),
        "funding": first.get("funding", ""),
        "kind": first.get("kind", ""),
        "lines": punctuation.punct("；").join(
            " ".join(
                part for part in [*(row.get(k, "") for k in places), row.get("amount", "")] if part
            )
            for _number, row in handover.rows
            if _is_itemised(row.get("itemised", "")) is not False
        ),
    }


def one_import_at_a_time() -> None:
    """Within a transaction: wait for any other import to commit first. The checks for
    handovers already recorded read what is committed; two confirmations at once (a double
    click, two tabs) would each find the other's rows missing and save them twice. SQLite's
    transactions take the write lock as they begin (transaction_mode IMMEDIATE); PostgreSQL
    takes this advisory lock, released at commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])


# pg_advisory_xact_lock's key for imports ("import" as a number).
IMPORT_LOCK = 0x696D706F7274


def import_donations(data: bytes, filename: str, user=None) -> tuple[Preview, int]:
    """Check the file again and save every donation in it, or none: the check and the saves
    in one transaction, one import at a time, so a file confirmed twice at once counts once."""
    # One summary refresh for the whole file, in its transaction, not one per donation.
    with transaction.atomic(), summary.deferred():
        access.hold_locked_years()  # first, as every admin page that writes takes it
        one_import_at_a_time()
        preview, handovers = preview_donations(data, filename, user)
        preview.items = describe_donations(handovers, preview.problems)
        if not preview.ok:
            return preview, 0
        for handover in handovers:
            donation = handover.form.save(commit=False)
            donation.save()
            with history.links_in_one_version(donation):  # one version, its donors as saved
                handover.form.save_m2m()
            for line in handover.lines:
                DonationLine.objects.create(donation=donation, **line)
            donation.rebalance()
            rest = donation.lines.filter(is_itemised=False).first()
            if handover.rest_note and rest is not None:
                rest.note = handover.rest_note
                rest.save(update_fields=["note"])  # through the model: its audit trail too
    return preview, len(handovers)


def check_donations(data: bytes, filename: str, user=None) -> Preview:
    preview, handovers = preview_donations(data, filename, user)
    preview.items = describe_donations(handovers, preview.problems)
    return preview


# Regions -------------------------------------------------------------------------------


def _region_columns() -> list[exports.Column]:
    return [
        exports.Column("name", gettext_lazy("Name")),
        exports.Column("level", gettext_lazy("Level")),
        exports.Column("parent", gettext_lazy("Parent region")),
        exports.Column("code", gettext_lazy("Statistical division code")),
    ]


def _pending_parent(pending: dict[str, Region], text: str) -> Region | None:
    """A region new in the file, by its full name as written: with spaces between the names
    or, as addresses are written, without (贵州省铜仁市江口县示例镇), when only one fits."""
    found = pending.get(" ".join(text.split()))
    if found is None:
        together = "".join(text.split())
        fits = [region for full, region in pending.items() if full.replace(" ", "") == together]
        found = fits[0] if len(fits) == 1 else None
    return found


def check_regions(data: bytes, filename: str) -> tuple[Preview, list[Region]]:
    preview = Preview(kind="regions")
    columns = _region_columns()
    try:
        rows = read_rows(data, filename, frozenset(header_names(columns)))
    except UnreadableFile as error:
        preview.problems.append(Problem(0, "", str(error)))
        return preview, []
    labels = {c.key: str(c.header) for c in columns}
    mapped = map_rows(rows, columns, ["name", "level", "parent"], preview)
    directory = Directory()
    pending: dict[str, Region] = {}
    codes: set[str] = set()
    regions = []
    for number, row in mapped:
        if _is_example(row.get("name", ""), EXAMPLE_VILLAGE):
            # to be replaced, not corrected: its other checks would only add noise (the
            # English "example village" has a space, which no region's name may have)
            preview.problems.append(Problem(number, labels["name"], _example_row_message()))
            continue
        # Level, parent and code are each checked, so a row's problems are all said at once.
        known = True
        level = level_value(row.get("level", ""))
        if level is None and not row.get("level"):
            message = _("%(column)s is not filled in.") % {"column": labels["level"]}
            preview.problems.append(Problem(number, labels["level"], message))
            known = False
        elif level is None:
            message = _(
                "“%(value)s” is not one of the choices. Write one of: %(choices)s, or 1 to 5."
            ) % {
                "value": row.get("level", ""),
                "choices": punctuation.joined(str(label) for label in Region.Level.labels),
            }
            preview.problems.append(Problem(number, labels["level"], message))
            known = False
        parent = None
        if row.get("parent"):
            parent = _pending_parent(pending, row["parent"]) or directory.region_by_full_name(
                row["parent"]
            )
            if parent is None:
                message = directory.not_found(
                    labels["parent"], row["parent"], "贵州省 铜仁市 江口县"
                )
                preview.problems.append(Problem(number, labels["parent"], message))
                known = False
        # Codes are often written in groups (5206 2110 0000), with full-width spaces or digits.
        code = "".join(from_full_width(row.get("code", "")).split()) or None
        wrong_code = code is not None and not re.fullmatch(r"[0-9]{12}", code)
        if wrong_code:
            # Said once, in words: the model would add its own length and digits errors.
            message = _(
                "A statistical division code is 12 digits (spaces aside); “%(code)s” is not."
            ) % {"code": row["code"]}
            if re.fullmatch(r"[0-9.]+[eE][+]?[0-9]+", code):
                # 5.20222E+11: what Excel keeps of a code typed into a number cell, saved as CSV
                message += " " + _(
                    "Excel has turned it into a number and dropped its last digits: type the "
                    "codes into cells formatted as text (the template's code column is), or "
                    "begin each with an apostrophe ('520222100201)."
                )
            preview.problems.append(Problem(number, labels["code"], message))
        if not known:
            continue  # the model's own checks need the level and the parent
        region = Region(name=row.get("name", ""), level=int(level), parent=parent, code=code)
        full = f"{parent.full_name} {region.name}" if parent else region.name
        # A parent that is itself new cannot be looked up yet; its duplicates are caught below.
        exclude = ["path"] + (["parent"] if parent is not None and parent.pk is None else [])
        if wrong_code:
            exclude.append("code")
        try:
            region.full_clean(exclude=exclude)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                column = labels.get(name, labels["name"])
                for message in messages:
                    preview.problems.append(Problem(number, column, message))
            continue
        if wrong_code:
            continue
        if full in pending:
            preview.problems.append(
                Problem(number, labels["name"], _("This region appears twice in the file."))
            )
            continue
        if region.code and region.code in codes:
            preview.problems.append(
                Problem(number, labels["code"], _("This code appears twice in the file."))
            )
            continue
        if region.code:
            codes.add(region.code)
        pending[full] = region
        regions.append(region)
        preview.items.append(
            {"row": number, "name": full, "level": region.get_level_display(), "code": region.code}
        )
    # Rows with problems as they were read, with their problems, in the file's order.
    by_row = _problems_by_row(preview.problems)
    shown = {item["row"] for item in preview.items}
    for number, row in mapped:
        if number in by_row and number not in shown:
            name = " ".join(part for part in (row.get("parent", ""), row.get("name", "")) if part)
            preview.items.append(
                {
                    "row": number,
                    "name": name,
                    "level": row.get("level", ""),
                    "code": row.get("code"),
                }
            )
    for item in preview.items:
        item["problems"] = by_row.get(item["row"], [])
    preview.items.sort(key=lambda item: item["row"])
    return preview, regions


def import_regions(data: bytes, filename: str) -> tuple[Preview, int]:
    with transaction.atomic():
        one_import_at_a_time()
        preview, regions = check_regions(data, filename)
        if not preview.ok:
            return preview, 0
        for region in regions:
            # A parent from earlier in the file was saved a moment ago, in this same loop.
            region.save()
    return preview, len(regions)


def template_rows(kind: str) -> tuple[list[exports.Column], list[list[Any]]]:
    """A header and one example row, for the "download a template" links."""
    if kind == "regions":
        return _region_columns(), [
            [str(EXAMPLE_VILLAGE), Region.Level.VILLAGE.label, "贵州省 铜仁市 江口县", ""]
        ]
    example = {
        "handover": str(EXAMPLE_HANDOVER),
        "date": datetime.date(2024, 5, 6),
        "year": 2024,
        "helping_region": "广东省 东莞市 樟木头镇",
        "assisted_region": "贵州省 铜仁市 江口县",
        "donors": "樟木头镇人民政府",
        "recipient_regions": "齐心村",
        "kind": DonationKind.FUNDS.label,
        "category": Category.EDUCATION.label,
        "funding": Funding.FISCAL.label,
        "handover_total": Decimal("50000.00"),
        "itemised": _("itemised"),
        "province": "贵州省",
        "city": "铜仁市",
        "county": "江口县",
        "village": "齐心村",
        "amount": Decimal("50000.00"),
    }
    return exports.LEDGER_COLUMNS, [[example.get(c.key) for c in exports.LEDGER_COLUMNS]]
