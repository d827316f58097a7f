"""Quoting for `cmd.exe /C`, the interpreter the extension runs Windows command strings with.

`cmd /C` expands `%NAME%` in one pass over the whole string before anything runs (command-line
mode: no `%%` escape; an undefined name is left as is). Windows and Wine differ on what follows an
undefined span: Windows' cmd resumes the scan at its closing `%` (`echo %a %windir%` expands
windir), Wine's resumes after it (windir stays unexpanded). A literal `%` therefore pairs with the
next `%` under Wine, and a later `%ProgramFiles%` would reach the program unexpanded.

So every `%` is rendered as one of two kinds: a variable reference (`%NAME%`, NAME as in
`REFERENCE`), meant to expand; or a literal, placed so that every span it opens or closes contains
a double quote, which no variable name has, so it never expands. Between two references there must
be an even number of literals (then both cmds pair them the same way): `finalize` fills balancing
slots the templates offer (`%\\..\\` in a log path, `if not "%"==""` before a step) and proves the
result with a model of both scans; a string it cannot balance is refused.

Programs then split their own command line: the MSVC rules (quotes open and close anywhere, a
backslash run before a quote is halved) for installers' EXEs, tar and cmd's own commands, so a
literal may sit between two quoted fragments (`"100"%" v2"`); msiexec keeps quote characters inside
a word, so its words stay one fragment (`"100% v2.msi"`, `INSTALLDIR="%ProgramFiles%\\My App"`).
A double quote cannot be written at all (nor is it allowed in a Windows file name), so it is
refused, as are line breaks, which end a `cmd` command.

Where a VM has no tar.exe (Windows Server 2016), a zip goes through `powershell.exe -Command SCRIPT`:
its values are PowerShell single-quoted literals (`ps_literal`) and the script is one cmd word of
MSVC-rule fragments (`ps_command`), so a literal `%` sits between two fragments there too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# What `%NAME%` must look like to be rendered as a reference (ProgramFiles(x86) included).
REFERENCE = re.compile(r"%([A-Za-z_][A-Za-z0-9_#$@.(){}\[\]~+\-]*)%")
# Arguments that need no quotes in cmd nor in the MSVC argv rules: `/S`, `/D=C:\x`, `{GUID}`.
_BARE = re.compile(r"^[A-Za-z0-9_\-+=/:.\\@{}\[\]~#$*?']+$")
_MSI_PROPERTY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=(.*)$", re.DOTALL)
_FORBIDDEN = re.compile(r'["\r\n\x00\ue000-\ue01f]')

# Markers in a rendered string until `finalize`: each `%` is a literal or one end of a reference.
LIT = "\ue010"
REF = "\ue011"
# Balancing slots the templates may offer; each becomes one literal `%` where needed, else nothing.
SLOT_STEP = "\ue001"  # before a command: `if not "%"=="" <command>` (errorlevel untouched)
SLOT_LOG = "\ue002"  # inside a one-fragment relative path: `%\..\name` is `name`
SLOT_PS = "\ue003"  # at the start of a powershell -Command word: `<#%#>`, an inline comment
SLOTS = {SLOT_STEP: f'if not "{LIT}"=="" ', SLOT_LOG: f"{LIT}\\..\\", SLOT_PS: f'<#"{LIT}"#>'}
# PowerShell reads each of these as a single quote inside a '...' literal: each is doubled.
_PS_QUOTES = re.compile("([\u0027\u2018\u2019\u201a\u201b])")
# What a wildcard-reading parameter (-Path) gives a meaning: each is escaped with a backtick.
_PS_WILDCARDS = re.compile(r"([`\[\]*?])")


class CmdQuoteError(ValueError):
    """A value that cannot be written into a cmd string."""


class CmdPercentError(CmdQuoteError):
    """A literal `%` that Windows' cmd and Wine's would pair differently."""


def cmd_problem(value: str) -> str | None:
    """Why `value` cannot be quoted for cmd, or None."""
    if match := _FORBIDDEN.search(value):
        what = {'"': "a double quote", "\r": "a carriage return", "\n": "a line break", "\x00": "a NUL"}
        name = what.get(match.group(), "a private-use character")
        return f"{value!r} contains {name}, which a cmd command string cannot carry"
    return None


def mark(text: str, expand: bool) -> str:
    """`text` with each `%` marked: references (only with `expand`) and literals."""
    if not expand:
        return text.replace("%", LIT)
    out, pos = [], 0
    for match in REFERENCE.finditer(text):
        out.append(text[pos : match.start()].replace("%", LIT))
        out.append(f"{REF}{match.group(1)}{REF}")
        pos = match.end()
    out.append(text[pos:].replace("%", LIT))
    return "".join(out)


def cmd_quote(value: object, expand: bool = False, split: bool = True) -> str:
    """`value` as one quoted cmd word that reaches the program unchanged.

    With `expand`, `%NAME%` references are left for cmd to expand (recipe paths such as
    `%ProgramFiles%\\App`); every other `%` is literal. `split` puts each literal between two
    quoted fragments (for programs with MSVC argv rules); without it the word is one fragment.
    """
    text = str(value)
    if problem := cmd_problem(text):
        raise CmdQuoteError(problem)
    marked = mark(text, expand)
    if not split:  # msiexec's own parsing: a backslash never escapes a quote there
        return f'"{marked}"'
    return LIT.join(_fragment(part) for part in marked.split(LIT))


def cmd_arg(value: object, expand: bool = False, split: bool = True) -> str:
    """Like cmd_quote, but plain switches (`/S`, `/D=C:\\x`, `{GUID}`) stay bare, as installers expect."""
    text = str(value)
    if problem := cmd_problem(text):
        raise CmdQuoteError(problem)
    marked = mark(text, expand)
    plain = re.sub(f"{REF}[^{REF}]*{REF}", "x", marked)
    # A reference's value may hold spaces or parentheses (`%ProgramFiles(x86)%`): the word is quoted,
    # for msiexec as `PROP="value"` (it answers 1639 to a quoted `"PROP=value"`).
    if _BARE.fullmatch(plain) and not text.endswith("\\") and REF not in marked:
        return marked
    if not split and (prop := _MSI_PROPERTY.match(text)):
        return f"{prop.group(1)}={cmd_quote(prop.group(2), expand, split)}"
    return cmd_quote(text, expand, split)


def cmd_args(values: Iterable[object], expand: bool = False, split: bool = True) -> str:
    if isinstance(values, str):
        raise TypeError("cmd_args needs a list, not a string")
    return " ".join(cmd_arg(v, expand, split) for v in values)


def cmd_raw(value: object) -> str:
    """A recipe's own cmd text (an EXE's remove command): as written, its `%` marked."""
    text = str(value)
    if problem := cmd_problem(text.replace('"', "")):
        raise CmdQuoteError(problem)
    return mark(text, expand=True)


def ps_literal(value: object, expand: bool = False, wildcard: bool = False) -> str:
    """`value` as a PowerShell single-quoted string, its `%` marked for cmd (a piece of `ps_command`).

    Inside '...' PowerShell gives a meaning only to its single quotes (the typographic ones too),
    which are doubled. With `wildcard`, for a parameter that resolves wildcards, ` [ ] * ? are
    escaped. With `expand`, cmd expands `%NAME%` first (its value is trusted to hold none of these).
    """
    text = str(value)
    if problem := cmd_problem(text):
        raise CmdQuoteError(problem)
    if wildcard:
        text = _PS_WILDCARDS.sub(r"`\1", text)
    return "'" + mark(_PS_QUOTES.sub(r"\1\1", text), expand) + "'"


def ps_command(script: str) -> str:
    """A PowerShell script (values from `ps_literal`) as the one word after `powershell.exe -Command`.

    powershell.exe splits its command line by the MSVC rules, so the word is quoted like `cmd_quote`'s:
    each literal `%` between two quoted fragments. The script holds no double quote (no value can).
    """
    if '"' in script:
        raise ValueError(f"a double quote in a PowerShell script for cmd: {script!r}")
    return LIT.join(_fragment(part) for part in script.split(LIT))


def _fragment(part: str) -> str:
    # Backslashes before the closing quote would escape it for an MSVC program: double them.
    trailing = len(part) - len(part.rstrip("\\"))
    return f'"{part}{chr(92) * trailing}"'


def finalize(marked: str) -> str:
    """The cmd string for a marked rendering: slots filled where a reference needs them, then proven.

    Raises CmdQuoteError when a literal `%` cannot be balanced before the next reference.
    """
    if "%" in marked:
        raise ValueError(f"an unmarked % in a rendered cmd string (use mark()): {marked!r}")
    filled = _balance(marked)
    text, kinds = _unmark(filled)
    for resume_at_close in (True, False):  # Windows' cmd, then Wine's
        if problem := _scan(text, kinds, resume_at_close):
            raise CmdPercentError(problem)
    return text


def _balance(marked: str) -> str:
    chars = list(marked)
    literals, slots, inside = 0, [], False
    for i, ch in enumerate(chars):
        if ch == LIT:
            literals += 1
        elif ch in SLOTS:
            slots.append(i)
        elif ch == REF:
            if not inside and literals % 2:
                if not slots:
                    raise CmdPercentError(_unbalanced(marked, i))
                chars[slots[-1]] = SLOTS[chars[slots[-1]]]
            inside = not inside
            literals, slots = 0, []
    return "".join(c if c not in SLOTS else "" for c in chars)


def _unbalanced(marked: str, at: int) -> str:
    text, _ = _unmark(marked[:at])
    name = marked[at + 1 :].split(REF, 1)[0]
    return (
        f"a literal % before %{name}% cannot be written for both Windows' cmd and Wine's: Wine's cmd "
        f"would pair it with that reference and leave it unexpanded (...{text[-60:]}%{name}%)"
    )


def _unmark(marked: str) -> tuple[str, dict[int, str]]:
    """The plain string and, for each `%` in it, its kind: L literal, O/C a reference's ends."""
    out: list[str] = []
    kinds: dict[int, str] = {}
    opening = True
    for ch in marked:
        if ch == LIT:
            kinds[len(out)] = "L"
        elif ch == REF:
            kinds[len(out)] = "O" if opening else "C"
            opening = not opening
        elif ch in SLOTS:
            continue
        else:
            out.append(ch)
            continue
        out.append("%")
    return "".join(out), kinds


def _scan(text: str, kinds: dict[int, str], resume_at_close: bool) -> str | None:
    """Model cmd's percent scan; references count as defined, spans with a quote as undefined."""
    where = "Windows' cmd" if resume_at_close else "Wine's cmd"
    positions = sorted(kinds)
    k = 0
    while k + 1 < len(positions):
        a, b = positions[k], positions[k + 1]
        if kinds[a] == "O" and kinds[b] == "C":
            k += 2
            continue
        name = text[a + 1 : b]
        if '"' not in name or kinds[a] != "L" or (kinds[b] == "O" and not resume_at_close):
            return f"{where} would read %{name}% as a variable in ...{text[max(0, a - 40) : b + 40]}..."
        k += 1 if resume_at_close else 2
    if k < len(positions) and kinds[positions[k]] != "L":
        return f"{where} would leave a reference unexpanded in ...{text[max(0, positions[k] - 60) :]}"
    return None
