"""Table tests of the per-field normalisation and hashing of Pinterest user_data."""

from __future__ import annotations

import hashlib

import pytest

from consumer.hashing import HASHED_FIELDS, hashed, hashed_list, normalise


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


NORMALISED = [
    # email: trim and lowercase
    ("em", "  Jane.Doe@Example.com ", "jane.doe@example.com"),
    ("em", "JANE@EXAMPLE.COM", "jane@example.com"),
    ("em", "not-an-email", None),
    # phone: digits only, country code kept, leading zeros removed
    ("ph", "+1 (917) 123-4567", "19171234567"),
    ("ph", "+3295123456", "3295123456"),
    ("ph", "0032 95 12 34 56", "3295123456"),
    ("ph", "+44 (0)20 7946 0958", "442079460958"),
    ("ph", "tel: --", None),
    # names: trim and lowercase, letters of any script kept
    ("fn", " Jane ", "jane"),
    ("ln", "  Müller-Lüdenscheidt", "müller-lüdenscheidt"),
    # gender: one of m, f, n
    ("ge", "Male", "m"),
    ("ge", " FEMALE ", "f"),
    ("ge", "F", "f"),
    ("ge", "non-binary", "n"),
    ("ge", "Non Binary", "n"),
    ("ge", "prefer not to say", None),
    # date of birth: YYYYMMDD
    ("db", "1990-05-17", "19900517"),
    ("db", "1990/5/7", "19900507"),
    ("db", "19900517", "19900517"),
    ("db", "1990-05-17T00:00:00Z", "19900517"),
    ("db", "05/17/1990", "19900517"),
    ("db", "17/05/1990", "19900517"),
    ("db", "17.05.1990", "19900517"),
    ("db", "17-05-1990", "19900517"),
    ("db", "1990-02-30", None),
    ("db", "yesterday", None),
    # city: lowercase, no spaces or punctuation
    ("ct", "Menlo Park", "menlopark"),
    ("ct", " St. John's ", "stjohns"),
    ("ct", "Zürich", "zürich"),
    ("ct", "--", None),
    # state: two-letter lowercase code
    ("st", "CA", "ca"),
    ("st", " ny ", "ny"),
    ("st", "California", "ca"),
    ("st", "New York", "ny"),
    ("st", "US-CA", "ca"),
    ("st", "Ontario", "on"),
    ("st", "Bavaria", None),
    # zip: lowercase, no spaces; letters kept; only ZIP+4 cut to five digits
    ("zp", " 94025 ", "94025"),
    ("zp", "94025-1234", "94025"),
    ("zp", "SW1A 1AA", "sw1a1aa"),
    ("zp", "K1A 0B1", "k1a0b1"),
    ("zp", "1012 AB", "1012ab"),
    # country: two-letter lowercase ISO code
    ("country", "US", "us"),
    ("country", " de ", "de"),
    ("country", "United States", "us"),
    ("country", "UK", "gb"),
    ("country", "DEU", "de"),
    ("country", "Atlantis", None),
    # external id: trimmed only, letter case kept
    ("external_id", "  Cust-123 ", "Cust-123"),
    # mobile ad ids: trimmed and lowercased
    ("hashed_maids", " 6D92078A-8246-4BA4-AE5B-76104861E7DC ", (
        "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    )),
]  # fmt: skip


@pytest.mark.parametrize(("field", "raw", "expected"), NORMALISED)
def test_normalise_follows_pinterest_rule_for_field(
    field: str, raw: str, expected: str | None
) -> None:
    """Each field is normalised the way Pinterest asks, or left out when unusable."""
    assert normalise(field, raw) == expected


@pytest.mark.parametrize(("field", "raw", "expected"), NORMALISED)
def test_hashed_is_sha256_of_normalised_text(
    field: str, raw: str, expected: str | None
) -> None:
    """The digest sent is the lowercase hex SHA-256 of the normalised text."""
    assert hashed(field, raw) == (None if expected is None else _sha(expected))


@pytest.mark.parametrize("field", HASHED_FIELDS)
@pytest.mark.parametrize("blank", [None, "", "   ", "\t\n"])
def test_blank_values_are_left_out(field: str, blank: str | None) -> None:
    """A missing or blank value gives no digest at all, never the hash of ""."""
    assert hashed(field, blank) is None


@pytest.mark.parametrize("field", HASHED_FIELDS)
def test_existing_digest_passes_through_lowercased(field: str) -> None:
    """A value that already is a SHA-256 hex digest is not hashed a second time."""
    digest = _sha("jane.doe@example.com")
    assert hashed(field, f" {digest.upper()} ") == digest


def test_digests_are_lowercase_hex() -> None:
    """Every digest is 64 lowercase hex characters."""
    digest = hashed("em", "Jane@Example.com")
    assert digest is not None
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


def test_email_digest_matches_pinterest_example_input() -> None:
    """The email digest equals SHA-256 of the trimmed, lowercased address."""
    assert hashed("em", " Jane.Doe@Example.com") == _sha("jane.doe@example.com")


def test_hashed_list_drops_blanks_and_repeats_in_order() -> None:
    """Several values give their digests once each, in order, without blanks."""
    digests = hashed_list("em", ["b@x.io", None, " ", "B@X.io", "a@x.io"])
    assert digests == [_sha("b@x.io"), _sha("a@x.io")]
