"""Quoting for `cmd.exe /C`, the interpreter the extension runs Windows command strings with.

`cmd /C` parses its string in command-line mode: `%NAME%` expands where NAME is a defined variable
(an undefined one is left as is), and `& | < > ( ) ^` and spaces are literal inside double quotes.
Programs then split their own command line (the MSVC rules: quotes open and close, a backslash run
before a quote is halved). So a value is emitted double-quoted, with each literal `%` outside the
quotes between two quoted fragments (`"100"%" done"`): any `%...%` span then contains a `"`, which no
variable name has, so nothing expands; backslashes before a closing quote are doubled. A caret escape
(`^%`) would do on Windows but not under Wine, whose cmd keeps a caret that follows a quote.
A double quote cannot be written at all (nor is it allowed in a Windows file name), so it is
refused, as are line breaks, which end a `cmd` command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Arguments that need no quotes in cmd nor in the MSVC argv rules: `/S`, `/D=C:\x`, `{GUID}`.
_BARE = re.compile(r"^[A-Za-z0-9_\-+=/:.\\@{}\[\]~#$*?']+$")
_FORBIDDEN = re.compile(r'["\r\n\x00]')


class CmdQuoteError(ValueError):
    """A value that cannot be written into a cmd string."""


def cmd_problem(value: str) -> str | None:
    """Why `value` cannot be quoted for cmd, or None."""
    if match := _FORBIDDEN.search(value):
        what = {'"': "a double quote", "\r": "a carriage return", "\n": "a line break", "\x00": "a NUL"}
        return f"{value!r} contains {what[match.group()]}, which a cmd command string cannot carry"
    return None


def cmd_quote(value: object, expand: bool = False) -> str:
    """`value` as one quoted cmd word that reaches the program unchanged.

    With `expand`, `%NAME%` references are left for cmd to expand (recipe paths such as
    `%ProgramFiles%\\App`); otherwise every `%` is literal.
    """
    text = str(value)
    if problem := cmd_problem(text):
        raise CmdQuoteError(problem)
    parts = [text] if expand else text.split("%")
    return "%".join(_fragment(part) for part in parts)


def cmd_arg(value: object, expand: bool = False) -> str:
    """Like cmd_quote, but plain switches (`/S`, `/D=C:\\x`, `{GUID}`) stay bare, as installers expect."""
    text = str(value)
    if _BARE.match(text) and not text.endswith("\\"):
        return text
    if expand and _BARE.match(text.replace("%", "")) and not text.endswith("\\"):
        return text
    return cmd_quote(text, expand)


def cmd_args(values: Iterable[object], expand: bool = False) -> str:
    if isinstance(values, str):
        raise TypeError("cmd_args needs a list, not a string")
    return " ".join(cmd_arg(v, expand) for v in values)


def _fragment(part: str) -> str:
    # Backslashes before the closing quote would escape it for the program: double them.
    trailing = len(part) - len(part.rstrip("\\"))
    return f'"{part}{chr(92) * trailing}"'
