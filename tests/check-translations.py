#!/usr/bin/env python3
"""Every language in po/LINGUAS is complete against the strings the sources have *now*: a fresh
template is extracted from po/POTFILES.in (xgettext, the same keywords as meson's glib preset),
each po/<lang>.po is merged with it (msgmerge), and `msgfmt --check --statistics` must report
0 fuzzy and 0 untranslated messages. Checking the merged file, not po/<lang>.po as it is, catches
strings added or changed in the code since the translation was last updated."""
import pathlib
import re
import subprocess
import sys
import tempfile

# meson's i18n.gettext(preset: 'glib') arguments (mesonbuild/modules/i18n.py).
XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments',
    '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2', '--keyword=NC_:1c,2',
    '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3', '--keyword=g_dpgettext2:2c,3',
    '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format', '--flag=NC_:2:pass-c-format',
    '--flag=g_dngettext:2:pass-c-format', '--flag=g_strdup_printf:1:c-format',
    '--flag=g_string_printf:2:c-format', '--flag=g_string_append_printf:2:c-format',
    '--flag=g_error_new:3:c-format', '--flag=g_set_error:4:c-format',
    '--flag=g_markup_printf_escaped:1:c-format', '--flag=g_log:3:c-format',
    '--flag=g_print:1:c-format', '--flag=g_printerr:1:c-format', '--flag=g_printf:1:c-format',
    '--flag=g_fprintf:2:c-format', '--flag=g_sprintf:2:c-format', '--flag=g_snprintf:3:c-format',
]
STATS = re.compile(r'(\d+) (translated|fuzzy|untranslated)')


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def languages(root):
    for line in (root / 'po' / 'LINGUAS').read_text(encoding='utf-8').splitlines():
        for word in line.split('#', 1)[0].split():
            yield word


def msgids(po_file, attr_flag):
    """The msgids msgattrib selects (--untranslated / --only-fuzzy), for the failure message."""
    out = run(['msgattrib', attr_flag, '--no-obsolete', '--no-wrap', str(po_file)]).stdout
    return [m for m in re.findall(r'^msgid "(.*)"$', out, flags=re.M) if m]


def check_language(lang, root, pot, tmp):
    source = root / 'po' / f'{lang}.po'
    if not source.is_file():
        return [f'po/LINGUAS lists {lang} but po/{lang}.po does not exist']
    problems = []
    # The translation as committed must compile on its own (formats, plural forms, header).
    own = run(['msgfmt', '--check', '-o', '/dev/null', str(source)])
    if own.returncode != 0:
        problems.append(f'po/{lang}.po fails msgfmt --check:\n{own.stderr}')
    merged = tmp / f'{lang}.po'
    mm = run(['msgmerge', '--quiet', '-o', str(merged), str(source), str(pot)])
    if mm.returncode != 0:
        return problems + [f'msgmerge po/{lang}.po failed:\n{mm.stderr}']
    fmt = run(['msgfmt', '--check', '--statistics', '-o', '/dev/null', str(merged)])
    print(f'{lang}: {fmt.stderr.strip()}')
    if fmt.returncode != 0:
        problems.append(f'{lang}: msgfmt --check failed on the merged file:\n{fmt.stderr}')
    counts = {kind: int(n) for n, kind in STATS.findall(fmt.stderr)}
    if counts.get('translated', 0) == 0:
        problems.append(f'{lang}: no translated messages')
    for kind, flag in (('untranslated', '--untranslated'), ('fuzzy', '--only-fuzzy')):
        if counts.get(kind, 0):
            listed = '\n  '.join(msgids(merged, flag))
            problems.append(f'{lang}: {counts[kind]} {kind} against the current sources:\n  {listed}')
    return problems


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    langs = list(languages(root))
    if not langs:
        print('po/LINGUAS lists no language')
        return 1
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        pot = tmp / 'hart-studio.pot'
        xg = run(['xgettext', '--package-name=hart-studio', '-o', str(pot), *XGETTEXT_ARGS,
                  '-f', 'po/POTFILES.in', '-D', '.'], cwd=root)
        if xg.returncode != 0 or not pot.is_file():
            print(f'xgettext failed:\n{xg.stderr}')
            return 1
        problems = []
        for lang in langs:
            problems += check_language(lang, root, pot, tmp)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
