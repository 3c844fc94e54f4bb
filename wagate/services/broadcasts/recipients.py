"""Broadcast input: recipients from a JSON list or an uploaded CSV, and the `Halo {name}` template filled per recipient.

Numbers are normalised like single sends (`normalize_phone`, the install's default region, so `08…` is local);
the first row of a number wins and later ones are reported as duplicates; a row that cannot be used is reported
with its line (the CSV line, the header being line 1; for a JSON list the item's 1-based position) and why.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers

from wagate.errors import Invalid
from wagate.services.messaging.phones import normalize_phone

PHONE_COLUMNS = ("phone", "number", "nomor", "hp", "whatsapp", "no_hp", "nohp", "phone_number", "wa")
NAME_COLUMNS = ("name", "nama")
MAX_NAME = 191  # broadcast_recipients.name
MAX_VALUE = 1024  # one variable's value; a longer one is almost certainly a broken column
MAX_VARIABLES = 50
_VARIABLE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
# "{{" and "}}" are literal braces; "{name}" is a variable; any other brace is a mistake worth reporting.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_SPACES = re.compile(r"[\s\-]+")
_NATIONAL = re.compile(r"0[1-9][0-9]{1,16}")  # "0812…": the national prefix 0, then the number itself


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and variable names, alternating (`parts[1::2]` are the variables)."""

    text: str
    parts: tuple[str, ...]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(self.parts[1::2])

    def render(self, values: Mapping[str, str]) -> str:
        """The text with each variable replaced by its value; a variable without a value becomes empty."""
        return "".join(part if i % 2 == 0 else values.get(part, "") for i, part in enumerate(self.parts))


def parse_template(text: str) -> Template:
    """Parse `text`; `Invalid` (details under "template") for a stray brace or a malformed variable name."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid("Invalid broadcast", details={"template": "is required"})
    parts: list[str] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if match.group(1) is None:
            raise Invalid("Invalid broadcast", details={
                "template": f"has a single {token!r} at character {match.start() + 1}: write {token * 2} for a "
                            f"literal brace, or {{name}} for a variable"})
        name = variable_name(match.group(1))
        if not _VARIABLE.match(name):
            raise Invalid("Invalid broadcast", details={
                "template": f"{{{match.group(1)}}} is not a variable name (letters, digits and _)"})
        parts.extend(("".join(literal), name))
        literal = []
    literal.append(text[position:])
    parts.append("".join(literal))
    return Template(text=text, parts=tuple(parts))


def variable_name(raw: str) -> str:
    """A column header or template variable as one comparable name: "Kota Asal" and "kota_asal" are the same."""
    return _SPACES.sub("_", raw.strip().lower())


@dataclass(frozen=True, slots=True)
class RecipientRow:
    line: int
    phone: str  # normalised digits
    name: str | None
    variables: dict[str, str]  # every other column, by variable name

    def values(self) -> dict[str, str]:
        """Every variable a template may use: the columns, and the name and phone under each of their aliases."""
        return {**self.variables, **dict.fromkeys(NAME_COLUMNS, self.name or ""),
                **dict.fromkeys(PHONE_COLUMNS, self.phone)}


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    phone: str | None  # as given
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "phone": self.phone, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    line: int
    phone: str
    first_line: int

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "phone": self.phone, "first_line": self.first_line}


@dataclass(slots=True)
class RecipientList:
    rows: list[RecipientRow] = field(default_factory=list)
    invalid: list[RejectedRow] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)  # CSV lines with no value at all, skipped
    columns: set[str] = field(default_factory=lambda: {"name", "phone"})  # the variables a template may use

    def _add(self, line: int, raw_phone: Any, name: Any, variables: Mapping[str, Any], region: str,
             first_lines: dict[str, int]) -> None:
        shown = None if raw_phone is None else str(raw_phone).strip()
        if not shown:
            self.invalid.append(RejectedRow(line, None, "phone is required"))
            return
        try:
            phone = national_phone(shown, region) or normalize_phone(shown, region, field="phone")
        except Invalid as exc:
            reason = (exc.details or {}).get("phone", exc.message) if isinstance(exc.details, dict) else exc.message
            self.invalid.append(RejectedRow(line, shown, str(reason)))
            return
        text_name = _text(name)
        if text_name is not None and len(text_name) > MAX_NAME:
            self.invalid.append(RejectedRow(line, shown, f"name is longer than {MAX_NAME} characters"))
            return
        values: dict[str, str] = {}
        for key, value in variables.items():
            text = _text(value)
            if text is None and value is not None:
                self.invalid.append(RejectedRow(line, shown, f"{key} must be text or a number"))
                return
            if text is not None and len(text) > MAX_VALUE:
                self.invalid.append(RejectedRow(line, shown, f"{key} is longer than {MAX_VALUE} characters"))
                return
            values[key] = text or ""
        if phone in first_lines:
            self.duplicates.append(DuplicateRow(line, phone, first_lines[phone]))
            return
        first_lines[phone] = line
        self.rows.append(RecipientRow(line, phone, text_name or None, values))


def from_records(records: Sequence[Any], default_region: str) -> RecipientList:
    """Recipients given as JSON objects: `{"phone", "name", …variables}` (the CSV column aliases work too)."""
    if not isinstance(records, Sequence) or isinstance(records, str | bytes):
        raise Invalid("Invalid broadcast", details={"recipients": "must be a list of objects"})
    result = RecipientList()
    first_lines: dict[str, int] = {}
    for index, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            result.invalid.append(RejectedRow(index, None, "must be an object with a phone"))
            continue
        phone, name, variables = _split({variable_name(str(k)): v for k, v in record.items()})
        if len(variables) > MAX_VARIABLES:
            result.invalid.append(RejectedRow(index, _text(phone), f"has more than {MAX_VARIABLES} variables"))
            continue
        result.columns.update(variables)
        result.columns.update(k for k in map(variable_name, map(str, record)) if k in PHONE_COLUMNS + NAME_COLUMNS)
        result._add(index, phone, name, variables, default_region, first_lines)
    return result


def from_csv(data: bytes, default_region: str) -> RecipientList:
    """Recipients from CSV bytes: UTF-8 with or without BOM, comma or semicolon, a header row naming the columns."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("Invalid CSV file", details={"file": f"is not UTF-8 text (byte {exc.start + 1})"}) from exc
    # The first non-blank line, read lazily (files are large), split where the csv module splits: \r, \n.
    header_line = next((line for line in io.StringIO(text, newline=None) if line.strip()), "")
    if not header_line:
        raise Invalid("Invalid CSV file", details={"file": "is empty"})
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise Invalid("Invalid CSV file", details={"file": f"has no readable header row: {exc}"}) from exc
    names = [variable_name(cell) for cell in header]
    known = [n for n in names if n]
    if len(set(known)) != len(known):
        twice = sorted({n for n in known if known.count(n) > 1})
        raise Invalid("Invalid CSV file", details={"header": f"repeats the column(s) {', '.join(twice)}"})
    if not any(n in PHONE_COLUMNS for n in names):
        raise Invalid("Invalid CSV file", details={
            "header": f"needs a phone column (one of {', '.join(PHONE_COLUMNS)}); found {', '.join(known) or 'none'}"})
    phone_columns = [n for n in names if n in PHONE_COLUMNS]
    if len(phone_columns) > 1:
        raise Invalid("Invalid CSV file", details={"header": f"has several phone columns: {', '.join(phone_columns)}"})
    if len(known) > MAX_VARIABLES + 2:
        raise Invalid("Invalid CSV file", details={"header": f"has more than {MAX_VARIABLES} variable columns"})
    result = RecipientList()
    result.columns.update(n for n in names if n)  # "{nama}" works where the header says "nama"
    first_lines: dict[str, int] = {}
    line = reader.line_num
    try:
        for cells in reader:
            line, start = reader.line_num, line + 1  # a quoted cell may span lines: report where the row starts
            if not any(cell.strip() for cell in cells):
                result.blank_lines.append(start)
                continue
            record = {name: cell.strip() for name, cell in zip(names, cells, strict=False) if name}
            phone, name, variables = _split(record)
            if any(cell.strip() for cell in cells[len(names):]):  # an unquoted comma shifts every value after it
                result.invalid.append(RejectedRow(start, _text(phone), f"has {len(cells)} values but the header "
                                                  f"names {len(names)} columns: quote a value that holds a "
                                                  f"{delimiter!r}"))
                continue
            result._add(start, phone, name, variables, default_region, first_lines)
    except csv.Error as exc:
        raise Invalid("Invalid CSV file", details={"file": f"line {reader.line_num}: {exc}"}) from exc
    return result


def national_phone(text: str, region: str) -> str | None:
    """`normalize_phone` of a national number written as digits only ("0812…"), at a fifth of its cost; else None.

    `phonenumbers.parse` spends about three quarters of a number's time finding out what kind of input it was
    given; for digits that start with a national prefix of a single 0 its answer is fixed: strip the 0, keep the
    region's country code, as long as the region strips a plain "0" (no carrier codes, no transformation)
    and its international prefix does not begin the text. That number is then checked with the same
    `is_valid_number`. A number this refuses goes the whole way through `normalize_phone`, so the answer is the same.
    """
    if not _NATIONAL.fullmatch(text):
        return None
    country_code, international_prefix = _plain_zero_prefix(region)
    if not country_code or international_prefix.match(text):
        return None
    national = text[1:]
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return f"{country_code}{national}" if phonenumbers.is_valid_number(number) else None


@lru_cache(maxsize=32)
def _plain_zero_prefix(region: str) -> tuple[int, re.Pattern[str]]:
    """(country code, international prefix) of a region whose national prefix is a plain 0; (0, …) otherwise."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
    if (metadata is None or metadata.national_prefix_for_parsing != "0" or metadata.national_prefix_transform_rule
            or not metadata.international_prefix):
        return 0, re.compile("")
    return metadata.country_code or 0, re.compile(metadata.international_prefix)


def _split(record: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """(phone, name, other columns) of one normalised record."""
    phone = next((record[k] for k in PHONE_COLUMNS if k in record), None)
    name = next((record[k] for k in NAME_COLUMNS if k in record), None)
    variables = {k: v for k, v in record.items() if k not in PHONE_COLUMNS and k not in NAME_COLUMNS and k}
    return phone, name, variables


def _text(value: Any) -> str | None:
    """A cell or JSON value as text; None for a missing value or one that is not a scalar."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    return None
