"""Recipient normalisation: the phone forms people type (Indonesian first) and WhatsApp JIDs, good and bad."""

from __future__ import annotations

import pytest

from wagate.errors import Invalid
from wagate.services.messaging.phones import Recipient, normalize_phone, normalize_recipient


@pytest.mark.parametrize(("typed", "digits"), [
    ("+62 812-3456-7890", "6281234567890"),
    ("+6281234567890", "6281234567890"),
    ("081234567890", "6281234567890"),  # national, default region ID
    ("0812 3456 7890", "6281234567890"),
    ("(0812) 3456.7890", "6281234567890"),
    ("6281234567890", "6281234567890"),  # country code without "+"
    ("81234567890", "6281234567890"),  # the leading 0 dropped
    ("0062 812 3456 7890", "6281234567890"),  # international access prefix
    ("021-5551234", "62215551234"),  # a Jakarta landline (WhatsApp Business runs on landlines too)
    ("+1 (415) 555-2671", "14155552671"),
    ("14155552671", "14155552671"),  # not an Indonesian number: read as international
    ("+65 9123 4567", "6591234567"),
    ("  +62 812 3456 7890  ", "6281234567890"),
])
def test_phone_numbers_become_e164_digits(typed: str, digits: str) -> None:
    assert normalize_phone(typed, "ID") == digits
    assert normalize_recipient(typed, "ID") == Recipient(digits, f"{digits}@s.whatsapp.net", "phone")


def test_the_default_region_decides_national_numbers() -> None:
    assert normalize_phone("0412 345 678", "AU") == "61412345678"
    with pytest.raises(Invalid):
        normalize_phone("0412 345 678", "ID")


@pytest.mark.parametrize(("typed", "why"), [
    ("", "is required"),
    ("   ", "is required"),
    ("12345", "not a valid phone number"),
    ("0812", "not a valid phone number"),
    ("+62 812", "not a valid phone number"),
    ("+999 1234 5678", "not a valid phone number"),  # no such country code
    ("0812-3456-7890-1234-5678", "not a valid phone number"),
    ("0812abc", "not a phone number or WhatsApp JID"),
    ("1-800-FLOWERS", "not a phone number or WhatsApp JID"),
    ("+", "not a phone number or WhatsApp JID"),
    ("++6281234567890", "not a phone number or WhatsApp JID"),
])
def test_bad_phone_numbers_are_refused_with_a_reason(typed: str, why: str) -> None:
    with pytest.raises(Invalid) as raised:
        normalize_recipient(typed, "ID")
    assert raised.value.status == 400
    assert why in raised.value.details["to"]


@pytest.mark.parametrize(("typed", "expected"), [
    ("6281234567890@s.whatsapp.net", Recipient("6281234567890@s.whatsapp.net", "6281234567890@s.whatsapp.net", "user")),
    ("6281234567890:12@s.whatsapp.net", Recipient("6281234567890@s.whatsapp.net", "6281234567890@s.whatsapp.net",
                                                  "user")),
    ("6281234567890@c.us", Recipient("6281234567890@s.whatsapp.net", "6281234567890@s.whatsapp.net", "user")),
    ("6281234567890@S.WHATSAPP.NET", Recipient("6281234567890@s.whatsapp.net", "6281234567890@s.whatsapp.net",
                                               "user")),
    ("120363025246125888@g.us", Recipient("120363025246125888@g.us", "120363025246125888@g.us", "group")),
    ("6281234567890-1581234567@g.us", Recipient("6281234567890-1581234567@g.us", "6281234567890-1581234567@g.us",
                                                "group")),
    ("123456789012345@lid", Recipient("123456789012345@lid", "123456789012345@lid", "lid")),
    ("123456789012345:3@lid", Recipient("123456789012345@lid", "123456789012345@lid", "lid")),
])
def test_jids_pass_through_checked(typed: str, expected: Recipient) -> None:
    assert normalize_recipient(typed, "ID") == expected


@pytest.mark.parametrize("typed", [
    "someone@example.com",
    "6281234567890@",
    "@s.whatsapp.net",
    "abc@s.whatsapp.net",
    "123@s.whatsapp.net",  # too short for any phone number
    "6281234567890@g.us.evil",
    "status@broadcast",
    "1234567890123456789012@lid",
])
def test_bad_jids_are_refused(typed: str) -> None:
    with pytest.raises(Invalid) as raised:
        normalize_recipient(typed, "ID")
    assert "JID" in raised.value.details["to"]


def test_the_error_names_the_callers_field() -> None:
    """Broadcast CSV rows report the row's field, not "to"."""
    with pytest.raises(Invalid) as raised:
        normalize_recipient("nope", "ID", field="rows[7].phone")
    assert list(raised.value.details) == ["rows[7].phone"]


def test_non_strings_are_refused_not_crashed_on() -> None:
    with pytest.raises(Invalid):
        normalize_recipient(6281234567890, "ID")  # type: ignore[arg-type]


def test_a_recipient_is_remembered_and_a_refusal_is_not() -> None:
    from wagate.services.messaging.phones import _recipient

    first = normalize_recipient(" 0812-3456-7890 ", "ID")
    hits = _recipient.cache_info().hits
    assert normalize_recipient("0812-3456-7890", "ID") is first  # the same answer, not parsed again
    assert _recipient.cache_info().hits == hits + 1
    for field in ("to", "chat"):  # each refusal is made again, naming the field asked about
        with pytest.raises(Invalid) as refused:
            normalize_recipient("0812", "ID", field=field)
        assert set(refused.value.details) == {field}
