"""Normalisation and SHA-256 hashing of the identity fields of Pinterest's user_data.

Pure functions keyed by Pinterest's field name; ``hashed(field, value)`` is the
one entry point the mapping uses, ``normalise(field, value)`` is exposed for tests.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date

HASHED_FIELDS = (
    "em", "ph", "ge", "db", "ln", "fn", "ct", "st", "zp", "country", "external_id",
    "hashed_maids",
)  # fmt: skip
"""Pinterest's user_data fields that carry SHA-256 digests (arrays of strings)."""

_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_NOT_DIGIT = re.compile(r"[^0-9]")
_LETTERS_ONLY = re.compile(r"^[a-z]{2}$")

_GENDERS = {
    "m": "m", "male": "m", "man": "m", "masculine": "m",
    "f": "f", "female": "f", "woman": "f", "feminine": "f",
    "n": "n", "nonbinary": "n", "nb": "n", "enby": "n", "x": "n", "other": "n",
    "genderqueer": "n", "agender": "n", "genderfluid": "n",
}  # fmt: skip

# US states (with DC) and Canadian provinces by full name, for Converge sources
# that send "California" where Pinterest wants the two-letter code.
_REGION_CODES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar",
    "california": "ca", "colorado": "co", "connecticut": "ct", "delaware": "de",
    "districtofcolumbia": "dc", "florida": "fl", "georgia": "ga", "hawaii": "hi",
    "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks",
    "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md",
    "massachusetts": "ma", "michigan": "mi", "minnesota": "mn", "mississippi": "ms",
    "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
    "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok",
    "oregon": "or", "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc",
    "southdakota": "sd", "tennessee": "tn", "texas": "tx", "utah": "ut",
    "vermont": "vt", "virginia": "va", "washington": "wa", "westvirginia": "wv",
    "wisconsin": "wi", "wyoming": "wy", "alberta": "ab", "britishcolumbia": "bc",
    "manitoba": "mb", "newbrunswick": "nb", "newfoundlandandlabrador": "nl",
    "novascotia": "ns", "ontario": "on", "princeedwardisland": "pe", "quebec": "qc",
    "saskatchewan": "sk",
}  # fmt: skip

# Country names and three-letter codes seen in shop data; anything else must
# already be the ISO 3166-1 alpha-2 code. "uk" is not ISO: Britain is "gb".
_COUNTRY_CODES = {
    "usa": "us", "unitedstates": "us", "unitedstatesofamerica": "us",
    "uk": "gb", "gbr": "gb", "unitedkingdom": "gb", "greatbritain": "gb",
    "can": "ca", "canada": "ca", "deu": "de", "germany": "de", "deutschland": "de",
    "fra": "fr", "france": "fr", "nld": "nl", "netherlands": "nl", "bel": "be",
    "belgium": "be", "esp": "es", "spain": "es", "ita": "it", "italy": "it",
    "aus": "au", "australia": "au", "aut": "at", "austria": "at", "che": "ch",
    "switzerland": "ch", "irl": "ie", "ireland": "ie", "mex": "mx", "mexico": "mx",
    "bra": "br", "brazil": "br", "jpn": "jp", "japan": "jp", "nzl": "nz",
    "newzealand": "nz", "swe": "se", "sweden": "se", "dnk": "dk", "denmark": "dk",
    "nor": "no", "norway": "no", "pol": "pl", "poland": "pl", "prt": "pt",
    "portugal": "pt",
}  # fmt: skip

# Date-of-birth layouts, tried in order. A four-digit year first is ISO-like;
# with the year last, dots and dashes are read day-first (European use) and
# slashes month-first (US use), unless the first number cannot be a month.
_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YEAR_LAST_DATE = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})[-/.](\d{4})$")


def is_digest(value: str) -> bool:
    """Whether ``value`` already is a SHA-256 hex digest (any letter case)."""
    return bool(_DIGEST.match(value))


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _lower(value: str) -> str:
    return value.strip().lower()


def _email(value: str) -> str:
    # Text without an "@" is no address; hashing it would only fake an identity.
    text = value.strip().lower()
    return text if "@" in text else ""


def _phone(value: str) -> str:
    # Country code stays; a leading "00" international prefix or a trunk "0"
    # goes, as Pinterest asks for no leading zeros. "+44 (0)20 ..." writes the
    # trunk zero inside the number, where it is not dialled either.
    return _NOT_DIGIT.sub("", value.replace("(0)", "")).lstrip("0")


def _gender(value: str) -> str:
    key = re.sub(r"[\s_-]", "", value.strip().lower())
    return _GENDERS.get(key, "")


def _birth_date(value: str) -> str:
    text = value.strip()
    parts: tuple[str, str, str] | None = None
    if match := _ISO_DATE.match(text) or _COMPACT_DATE.match(text):
        parts = (match.group(1), match.group(2), match.group(3))
    elif match := _YEAR_LAST_DATE.match(text):
        first, separator, second, year = match.groups()
        month_first = separator == "/" and int(first) <= 12
        month, day = (first, second) if month_first else (second, first)
        parts = (year, month, day)
    if parts is None:
        return ""
    try:
        born = date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return ""
    return born.strftime("%Y%m%d")


def _letters_and_digits(value: str) -> str:
    # Unicode letters stay (cities such as "Zürich" are not ASCII), but
    # spaces, dots, hyphens and apostrophes go: "St. John's" -> "stjohns".
    text = unicodedata.normalize("NFC", value.strip().lower())
    return "".join(ch for ch in text if ch.isalnum())


def _state(value: str) -> str:
    text = _letters_and_digits(value)
    if "-" in value and len(text) == 4:
        text = text[2:]  # ISO 3166-2 form such as "US-CA"
    if _LETTERS_ONLY.match(text):
        return text
    return _REGION_CODES.get(text, "")


def _zip(value: str) -> str:
    # Pinterest's "digits only" rule is written for US ZIP codes; applied to a
    # UK or Canadian postcode ("SW1A 1AA", "K1A 0B1") it would leave a few
    # digits that match nobody, so letters stay and only ZIP+4 is cut to five.
    text = "".join(value.split()).lower()
    if re.fullmatch(r"\d{5}-\d{4}", text):
        return text[:5]
    return text


def _country(value: str) -> str:
    text = _letters_and_digits(value)
    if _LETTERS_ONLY.match(text):
        return "gb" if text == "uk" else text
    return _COUNTRY_CODES.get(text, "")


NORMALISERS: dict[str, Callable[[str], str]] = {
    "em": _email,
    "ph": _phone,
    "ge": _gender,
    "db": _birth_date,
    "fn": _lower,
    "ln": _lower,
    "ct": _letters_and_digits,
    "st": _state,
    "zp": _zip,
    "country": _country,
    "external_id": str.strip,
    "hashed_maids": _lower,
}
"""Pinterest's normalisation rule per hashed field; "" means nothing usable."""


def normalise(field: str, value: str) -> str | None:
    """The text to hash for ``field``, or None when nothing usable is left."""
    text = NORMALISERS[field](value)
    return text or None


def hashed(field: str, value: str | None) -> str | None:
    """The lowercase hex digest Pinterest takes for ``field``, or None if blank.

    A value that already is a 64-hex digest is passed through lowercased, so
    sources that hash before sending are not hashed twice.
    """
    if value is None or not value.strip():
        return None
    if is_digest(value.strip()):
        return value.strip().lower()
    text = normalise(field, value)
    return None if text is None else sha256_hex(text)


def hashed_list(field: str, values: Iterable[str | None]) -> list[str]:
    """Digests of the usable ``values`` in order, without repeats."""
    digests: list[str] = []
    for value in values:
        digest = hashed(field, value)
        if digest is not None and digest not in digests:
            digests.append(digest)
    return digests
