"""Check digits of Chinese identification numbers, so a mistyped number is caught at entry.

- 18-digit resident ID (GB 11643-1999): ISO 7064 MOD 11-2 over the first 17 digits, check
  character 0-9 or X. Special-operation certificates carry the holder's ID number.
- 18-character unified social credit code (GB 32100-2015): MOD 31 over an alphabet without
  I, O, S, V, Z. Contractor companies are identified by it.
"""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_PATTERN = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: \d would accept full-width digits


def id18_problem(number: str) -> str | None:
    """None when `number` is a well-formed 18-digit ID number, else what is wrong (in English:
    callers translate their own message)."""
    number = number.strip().upper()
    if not _ID_PATTERN.match(number):
        return "format"
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return None if _ID_CHECK[total % 11] == number[17] else "check_digit"


def id18_check_char(first17: str) -> str:
    """The check character for 17 digits (used to make valid demo and test numbers)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_PATTERN = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")


def credit_code_problem(code: str) -> str | None:
    code = code.strip().upper()
    if not _CREDIT_PATTERN.match(code):
        return "format"
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(code[:17], _CREDIT_WEIGHTS))
    expected = _CREDIT_ALPHABET[(31 - total % 31) % 31]
    return None if expected == code[17] else "check_digit"


def credit_check_char(first17: str) -> str:
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17.upper(), _CREDIT_WEIGHTS))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]
