"""Broadcast input: CSV and JSON recipients (BOM, semicolons, aliases, line numbers, duplicates, 08…), templates."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest

from wagate.errors import Invalid
from wagate.services.broadcasts.recipients import from_csv, from_records, national_phone, parse_template
from wagate.services.messaging.phones import normalize_phone

REGION = "ID"


def test_csv_with_bom_semicolons_and_indonesian_aliases() -> None:
    data = "\ufeffNomor;Nama;Kota Asal\n08123456789;Budi;Bandung\n+62 812-2222-3333;Siti;Medan\n".encode()
    result = from_csv(data, REGION)
    assert [(r.line, r.phone, r.name, r.variables) for r in result.rows] == [
        (2, "628123456789", "Budi", {"kota_asal": "Bandung"}),
        (3, "6281222223333", "Siti", {"kota_asal": "Medan"}),
    ]
    assert result.columns == {"name", "phone", "nomor", "nama", "kota_asal"}  # the aliases work in templates too
    assert result.invalid == [] and result.duplicates == []


@pytest.mark.parametrize("column", ["phone", "number", "nomor", "HP", "WhatsApp"])
def test_every_phone_alias_is_the_phone_column(column: str) -> None:
    result = from_csv(f"{column},name\n081234567890,Ani\n".encode(), REGION)
    assert [r.phone for r in result.rows] == ["6281234567890"]


def test_invalid_rows_carry_their_line_number_and_reason() -> None:
    data = (b"phone,name,promo\n"
            b"081234567890,Ani,A1\n"
            b"\n"  # blank lines are skipped but still counted
            b"not a number,Bad,B2\n"
            b",NoPhone,C3\n"
            b"0812,Short,D4\n"
            b'"0813 1111 2222","Multi\nline",E5\n'
            b"0856-7777-8888,Last,F6\n")
    result = from_csv(data, REGION)
    assert [(r.line, r.phone, r.name) for r in result.rows] == [
        (2, "6281234567890", "Ani"), (7, "6281311112222", "Multi\nline"), (9, "6285677778888", "Last")]
    assert [(r.line, r.phone) for r in result.invalid] == [(4, "not a number"), (5, None), (6, "0812")]
    assert "phone number" in result.invalid[0].reason
    assert result.invalid[1].reason == "phone is required"
    assert result.blank_lines == [3]
    assert "not a valid phone number" in result.invalid[2].reason


def test_duplicates_keep_the_first_row() -> None:
    data = b"phone,name\n081234567890,First\n+6281234567890,Second\n6281234567890,Third\n0857 1234 5678,Other\n"
    result = from_csv(data, REGION)
    assert [(r.phone, r.name) for r in result.rows] == [("6281234567890", "First"), ("6285712345678", "Other")]
    assert [d.as_dict() for d in result.duplicates] == [
        {"line": 3, "phone": "6281234567890", "first_line": 2}, {"line": 4, "phone": "6281234567890", "first_line": 2}]


def test_comma_csv_with_quoted_commas() -> None:
    result = from_csv(b'whatsapp,nama,alamat\n081234567890,"Budi, S.Kom","Jl. Merdeka, 1"\n', REGION)
    [row] = result.rows
    assert (row.name, row.variables) == ("Budi, S.Kom", {"alamat": "Jl. Merdeka, 1"})


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "is empty"),
    (b"name,city\nBudi,Bandung\n", "needs a phone column"),
    (b"phone,hp\n0812,0813\n", "several phone columns"),
    (b"phone,city,City\n0812,a,b\n", "repeats the column"),
    ("phone\n0812345678\u00e9".encode("latin-1"), "not UTF-8"),
])
def test_unusable_files_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        from_csv(data, REGION)
    assert problem in str(caught.value.details)


def test_json_records() -> None:
    result = from_records([
        {"phone": "081234567890", "name": "Ani", "kode": 1234},
        {"nomor": "6285712345678", "Kota": "Solo"},
        {"phone": "081234567890", "name": "again"},
        "not an object",
        {"phone": "123", "name": "Bad"},
        {"phone": "081311112222", "kode": {"nested": True}},
    ], REGION)
    assert [(r.line, r.phone, r.name, r.variables) for r in result.rows] == [
        (1, "6281234567890", "Ani", {"kode": "1234"}), (2, "6285712345678", None, {"kota": "Solo"})]
    assert [(d.line, d.first_line) for d in result.duplicates] == [(3, 1)]
    assert [(r.line, r.reason) for r in result.invalid] == [
        (4, "must be an object with a phone"), (5, result.invalid[1].reason), (6, "kode must be text or a number")]
    assert result.columns == {"name", "phone", "nomor", "kode", "kota"}


def test_template_variables_escapes_and_rendering() -> None:
    template = parse_template("Halo {Name}, kode {{promo}}: {kode}. {{}}")
    assert template.variables == {"name", "kode"}
    assert template.render({"name": "Ani", "kode": "X1"}) == "Halo Ani, kode {promo}: X1. {}"
    assert template.render({}) == "Halo , kode {promo}: . {}"


@pytest.mark.parametrize(("text", "problem"), [
    ("Halo {name", "single '{'"),
    ("Halo name}", "single '}'"),
    ("Halo {}", "not a variable name"),
    ("Halo {0}", "not a variable name"),
    ("Halo {a.b}", "not a variable name"),
    ("   ", "is required"),
])
def test_template_errors(text: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_template(text)
    assert problem in caught.value.details["template"]


def test_national_numbers_take_the_short_way_with_the_same_answer() -> None:
    numbers = ["081234567890", "08123456789", "02155551234", "0856-7777-8888", "+6281234567890", "0812"]
    assert [national_phone(n, REGION) for n in numbers] == [
        "6281234567890", "628123456789", "622155551234", None, None, None]  # the others go the long way
    for number in numbers:
        short = national_phone(number, REGION)
        assert short is None or short == normalize_phone(number, REGION, field="phone")


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_national_phone_agrees_with_normalize_phone_in_every_region(region: str) -> None:
    """Real example numbers of every type in their national form, and random 0-prefixed digits of every length."""
    given: list[str] = []
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None:
            national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            given.append(re.sub(r"\D", "", national))
    rng = random.Random(region)
    given += ["0" + "".join(rng.choice("0123456789") for _ in range(length)) for length in range(2, 17)
              for _ in range(8)]
    for number in given:
        short = national_phone(number, region)
        if short is not None:
            assert short == normalize_phone(number, region, field="phone"), number
