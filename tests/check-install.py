#!/usr/bin/env python3
"""`meson install` into a DESTDIR inside the build tree yields a complete, runnable tree: the
binaries, the CUDA module (when it was built), the desktop file, metainfo, icons, schema and the
German catalogue, each where GNOME looks for it; the installed files validate and run.

Usage: check-install.py BUILD_DIR DESTDIR PREFIX BINDIR LIBDIR DATADIR LOCALEDIR CUDA(yes|no)"""
import os
import pathlib
import shutil
import subprocess
import sys

APP_ID = 'io.github.hartstudio.HartStudio'
BINARIES = ['hart', 'hart-studio', 'hart-models', 'hart-studio-history']


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def main():
    build, destdir, prefix, bindir, libdir, datadir, localedir, cuda, source = sys.argv[1:10]
    destdir = pathlib.Path(destdir)
    root = destdir / pathlib.Path(prefix).relative_to('/')

    def under(d):
        p = pathlib.Path(d)
        return root / p if not p.is_absolute() else destdir / p.relative_to('/')

    bin_d, lib_d, data_d, locale_d = under(bindir), under(libdir), under(datadir), under(localedir)

    shutil.rmtree(destdir, ignore_errors=True)
    # --no-rebuild: `meson test` has built everything already and holds the build lock.
    inst = run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet', '--destdir',
                str(destdir)])
    if inst.returncode != 0:
        print(f'meson install failed ({inst.returncode}):\n{inst.stdout}\n{inst.stderr}')
        return 1

    expected = [bin_d / b for b in BINARIES]
    expected += [
        data_d / 'applications' / f'{APP_ID}.desktop',
        data_d / 'metainfo' / f'{APP_ID}.metainfo.xml',
        data_d / 'icons' / 'hicolor' / 'scalable' / 'apps' / f'{APP_ID}.svg',
        data_d / 'icons' / 'hicolor' / 'symbolic' / 'apps' / f'{APP_ID}-symbolic.svg',
        data_d / 'glib-2.0' / 'schemas' / f'{APP_ID}.gschema.xml',
        locale_d / 'de' / 'LC_MESSAGES' / 'hart-studio.mo',
    ]
    if cuda == 'yes':
        expected.append(lib_d / 'hart' / 'libhart-cuda.so')
    # The demo model (issue #10), when the tree has it: every file, where the app looks for it.
    demo_src = pathlib.Path(source) / 'data' / 'demo-model'
    demo_d = data_d / 'hart-studio' / 'demo-model'
    if demo_src.is_dir():
        expected += [demo_d / p.relative_to(demo_src) for p in sorted(demo_src.rglob('*'))
                     if p.is_file()]
    problems = [f'not installed: {p.relative_to(destdir)}' for p in expected if not p.is_file()]
    if demo_src.is_dir() and not demo_d.is_dir():
        # meson.build looks for data/demo-model/ when it configures.
        problems.append('data/demo-model/ is in the tree but was not installed: the build was '
                        'configured before it existed (meson setup --reconfigure)')
    for b in BINARIES:
        if (bin_d / b).is_file() and not os.access(bin_d / b, os.X_OK):
            problems.append(f'{b} is not executable')

    print('installed tree:')
    for p in sorted(destdir.rglob('*')):
        if p.is_file():
            print('  /' + p.relative_to(destdir).as_posix())

    if not problems:
        problems += check_runnable(bin_d, data_d, locale_d)
    if not problems and demo_src.is_dir():
        problems += check_demo(bin_d, demo_d, destdir)
    for p in problems:
        print('FAIL:', p)
    return 1 if problems else 0


def check_runnable(bin_d, data_d, locale_d):
    problems = []
    env = dict(os.environ, LC_ALL='C.UTF-8')
    # The installed CLI runs from the DESTDIR (libhart is linked in statically).
    r = run([str(bin_d / 'hart'), '--help'], env=env)
    if r.returncode != 0 or 'Usage: hart' not in r.stdout:
        problems.append(f'installed hart --help: rc {r.returncode}\n{r.stdout}{r.stderr}')
    # GApplication answers --help before it opens a display.
    env_nodisplay = {k: v for k, v in env.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
    r = run([str(bin_d / 'hart-studio'), '--help'], env=env_nodisplay)
    if r.returncode != 0 or 'hart-studio' not in r.stdout:
        problems.append(f'installed hart-studio --help: rc {r.returncode}\n{r.stdout}{r.stderr}')
    # The desktop file starts a binary that was installed next to it.
    desktop = data_d / 'applications' / f'{APP_ID}.desktop'
    execs = [l.split('=', 1)[1].split()[0] for l in desktop.read_text().splitlines()
             if l.startswith('Exec=')]
    if not execs or not (bin_d / execs[0]).is_file():
        problems.append(f'desktop file Exec={execs} is not an installed binary')
    keys = [l.split('=', 1)[0] for l in desktop.read_text(encoding='utf-8').splitlines()]
    for key in ('Name[de]', 'GenericName[de]', 'Comment[de]', 'Keywords[de]'):
        if key not in keys:
            problems.append(f'the installed desktop file has no {key}')
    if shutil.which('desktop-file-validate'):
        r = run(['desktop-file-validate', str(desktop)])
        if r.returncode != 0:
            problems.append(f'desktop-file-validate:\n{r.stdout}{r.stderr}')
    schemas = data_d / 'glib-2.0' / 'schemas'
    r = run(['glib-compile-schemas', '--strict', '--dry-run', str(schemas)])
    if r.returncode != 0:
        problems.append(f'installed schema does not compile:\n{r.stderr}')
    # The installed catalogue translates a known string (gettext(1) reads TEXTDOMAINDIR).
    if shutil.which('gettext'):
        r = run(['gettext', '-d', 'hart-studio', '_Generate'],
                env=dict(env, LANGUAGE='de', TEXTDOMAINDIR=str(locale_d)))
        if r.stdout != '_Erzeugen':
            problems.append(f'installed de catalogue: "_Generate" -> "{r.stdout}"')
    return problems


def check_demo(bin_d, demo_d, destdir):
    """The installed `hart generate` draws with the installed demo model when no --model is given
    (pointed at it through HART_DEMO_MODEL_DIR: the compiled-in path lies outside the DESTDIR)."""
    out = destdir / 'demo.png'
    env = dict(os.environ, LC_ALL='C.UTF-8', HART_DEMO_MODEL_DIR=str(demo_d),
               OMP_WAIT_POLICY='PASSIVE')
    r = run([str(bin_d / 'hart'), 'generate', '--prompt', 'a big red circle in the center',
             '--threads', '1', '--out', str(out)], env=env)
    if r.returncode != 0 or not out.is_file() or 'using the demo model' not in r.stderr:
        return [f'installed hart generate with the demo model: rc {r.returncode}\n{r.stderr}']
    print(f'installed hart generate (demo model): {out}')
    return []


if __name__ == '__main__':
    sys.exit(main())
