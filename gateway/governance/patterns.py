"""RE2 patterns: operator-written regexes and the built-in PII detectors.

Every pattern that runs over visitor text is compiled here with RE2 (google-re2), never
with Python's ``re``: RE2 matches in time linear in the input whatever the pattern, so an
operator's ``(a+)+$`` or a crafted page title cannot stall the request path. Python's
backtracking engine is quadratic even on the email detector (``"a" * n`` with no ``@``
after it), which a single event can exploit.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeAlias

import re2

#: RE2's compiled pattern (the module exposes no public name for the class)
Pattern: TypeAlias = re2._Regexp


def compile_pattern(regex: str, *, ignore_case: bool = False) -> Pattern:
    """Compile ``regex`` (RE2 syntax); ``ValueError`` with RE2's message when invalid.

    Config validation calls this to refuse a bad pattern with its file and line, so the
    request path only ever sees patterns that compiled.
    """
    options = re2.Options()
    options.case_sensitive = not ignore_case
    # the error goes back to the caller; RE2's own logging would print it to stderr again
    options.log_errors = False
    try:
        return re2.compile(regex, options)
    except re2.error as err:
        message = err.args[0] if err.args else "invalid pattern"
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise ValueError(str(message)) from None


#: An email address anywhere in a string, also URL-encoded (``%40`` for ``@``, as it
#: arrives in a query string). The TLD must be letters, which keeps ``1.2@3.4`` out.
EMAIL = compile_pattern(
    r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

# Phone numbers are deliberately narrow. Event text is full of digit runs that are not
# phone numbers (order ids, prices, ISO dates, epoch milliseconds), and a detector that
# redacts a revenue figure or a transaction id breaks reporting for every event, while
# a number written without any phone formatting is rare in a title or a URL. So only
# two shapes count:
# - international: ``+`` (or ``%2B``, URL-encoded) then 7 to 15 digits (E.164's range)
#   that single spaces, dots, dashes or parentheses may separate: ``+44 20 7946 0958``,
#   ``+1 (555) 010-2030``; the number must not run on into more digits or letters (``\b``),
#   and a ``+`` right after a letter or digit does not count: in a query string it is a
#   space (``?q=order+1234567890``);
# - North American: ``(555) 010-2030``, ``555-010-2030``, ``555.010.2030``, separators
#   required: ``5550102030`` alone is as likely an order id.
_SEPARATOR = r"(?:\)?[ .\-]?\(?)"
_INTERNATIONAL = rf"(?:\B\+|%2[Bb])\(?[0-9](?:{_SEPARATOR}[0-9]){{6,14}}\b"
_NORTH_AMERICAN = (
    r"(?:\([0-9]{3}\) ?|\b[0-9]{3}-)[0-9]{3}-[0-9]{4}\b|\b[0-9]{3}\.[0-9]{3}\.[0-9]{4}\b"
)
PHONE = compile_pattern(f"{_INTERNATIONAL}|{_NORTH_AMERICAN}")

#: The detectors a ``governance.scrub.patterns`` entry names with ``builtin:``.
BUILTINS: Mapping[str, Pattern] = MappingProxyType({"email": EMAIL, "phone": PHONE})


def glob_to_regex(glob: str) -> str:
    """An RE2 pattern matching a whole URL path against ``glob``.

    ``*`` matches any characters, ``/`` included (``/clinic/*`` covers every page below
    it); ``?`` matches one character; everything else is literal. Compile the result
    with ``ignore_case=True``: paths are matched the way sites route them.
    """
    parts: list[str] = []
    literal: list[str] = []
    for char in glob:
        if char in "*?":
            if literal:
                parts.append(re2.escape("".join(literal)))
                literal.clear()
            parts.append(".*" if char == "*" else ".")
        else:
            literal.append(char)
    if literal:
        parts.append(re2.escape("".join(literal)))
    # (?s): a path with an encoded newline decoded into it still matches its glob
    return rf"\A(?s:{''.join(parts)})\z"
