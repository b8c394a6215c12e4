#!/usr/bin/env python3
"""POTFILES.in is complete: every C file under app/ and ui/ that marks a string for translation
(_(), N_(), C_(), NC_(), Q_(), ngettext) and every .ui file with translatable="yes" is listed,
and every listed file exists. A file that is missing here is silently left untranslated."""
import pathlib
import re
import sys

# A gettext marker: the macro name must start a token ("g_strdup_(" or "foo_(" do not count).
C_MARKER = re.compile(r'(?<![A-Za-z0-9_])(?:_|N_|C_|NC_|Q_|g_dngettext|ngettext)\s*\(')
UI_MARKER = re.compile(r'translatable\s*=\s*"(?:yes|true|1)"')


def listed_files(potfiles):
    for line in potfiles.read_text(encoding='utf-8').splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            yield line


def needs_translation(path):
    text = path.read_text(encoding='utf-8', errors='replace')
    if path.suffix == '.ui':
        return UI_MARKER.search(text) is not None
    # Comments may mention _() without marking anything; drop them before searching.
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = re.sub(r'//[^\n]*', '', text)
    return C_MARKER.search(text) is not None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else '.').resolve()
    potfiles = root / 'po' / 'POTFILES.in'
    listed = list(listed_files(potfiles))
    problems = []
    for name in listed:
        if not (root / name).is_file():
            problems.append(f'po/POTFILES.in lists {name}, which does not exist')
    listed_set = set(listed)
    candidates = []
    for top in ('app', 'ui'):
        candidates += sorted((root / top).rglob('*.c'))
        candidates += sorted((root / top).rglob('*.ui'))
    checked = 0
    for path in candidates:
        rel = path.relative_to(root).as_posix()
        checked += 1
        if needs_translation(path) and rel not in listed_set:
            problems.append(f'{rel} has translatable strings but is missing from po/POTFILES.in')
    for p in problems:
        print(p)
    print(f'# {checked} source files scanned, {len(listed)} listed in POTFILES.in')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
