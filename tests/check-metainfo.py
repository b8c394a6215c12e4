#!/usr/bin/env python3
"""The AppStream metainfo says what a software centre needs, beyond what appstreamcli checks:
the launchable names the installed desktop file, every screenshot is a PNG in data/screenshots/
whose size matches the declared one, the newest release is this version, OARS content rating,
requires/recommends for display length and internet; and the merged file (build tree) carries
the German translation.

Usage: check-metainfo.py SOURCE_ROOT MERGED_METAINFO PROJECT_VERSION"""
import pathlib
import struct
import sys
import xml.etree.ElementTree as ET

APP_ID = 'io.github.hartstudio.HartStudio'
REPO_RAW = 'https://raw.githubusercontent.com/hartstudio/hart-studio/main/'
XML_LANG = '{http://www.w3.org/XML/1998/namespace}lang'


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] != b'\x89PNG\r\n\x1a\n' or head[12:16] != b'IHDR':
        return None
    return struct.unpack('>II', head[16:24])


def version_key(v):
    return tuple(int(x) if x.isdigit() else x for x in v.replace('-', '.').split('.'))


def check_source(root, comp, version):
    problems = []
    if comp.findtext('id') != APP_ID:
        problems.append(f'id is {comp.findtext("id")!r}, not {APP_ID}')
    launch = comp.find('launchable')
    if launch is None or launch.get('type') != 'desktop-id':
        problems.append('no <launchable type="desktop-id">')
    elif launch.text != f'{APP_ID}.desktop' or not (root / 'data' / f'{APP_ID}.desktop.in').is_file():
        problems.append(f'launchable {launch.text} does not name data/{APP_ID}.desktop(.in)')
    if len(comp.findall('description/p')) < 1:
        problems.append('no description paragraphs')

    shots = comp.findall('screenshots/screenshot')
    if not shots:
        problems.append('no screenshots')
    if sum(1 for s in shots if s.get('type') == 'default') != 1:
        problems.append('exactly one screenshot must be type="default"')
    for s in shots:
        img = s.find('image')
        if not s.findtext('caption'):
            problems.append('a screenshot has no caption')
        if img is None or not (img.text or '').startswith(REPO_RAW):
            problems.append(f'screenshot URL must point into the repository ({REPO_RAW}...)')
            continue
        rel = img.text[len(REPO_RAW):]
        path = root / rel
        if not rel.startswith('data/screenshots/') or not path.is_file():
            problems.append(f'screenshot {rel} is not a file in data/screenshots/')
            continue
        size = png_size(path)
        declared = (int(img.get('width', 0)), int(img.get('height', 0)))
        if size is None:
            problems.append(f'{rel} is not a PNG')
        elif size != declared:
            problems.append(f'{rel} is {size[0]}x{size[1]} but declared {declared[0]}x{declared[1]}')

    releases = comp.findall('releases/release')
    if not releases:
        problems.append('no releases')
    else:
        newest = max(releases, key=lambda r: version_key(r.get('version', '0')))
        if newest.get('version') != version:
            problems.append(f'newest release is {newest.get("version")}, project is {version}')
        for r in releases:
            if not r.get('date') or r.find('description') is None:
                problems.append(f'release {r.get("version")} needs a date and a description')

    rating = comp.find('content_rating')
    if rating is None or rating.get('type') != 'oars-1.1':
        problems.append('no <content_rating type="oars-1.1">')
    if comp.find('requires/display_length') is None:
        problems.append('no <requires><display_length>')
    if comp.find('recommends/display_length') is None:
        problems.append('no <recommends><display_length>')
    internet = comp.find('recommends/internet')
    if internet is None:
        problems.append('no <recommends><internet> (the model is downloaded once)')
    return problems


def check_merged(merged):
    comp = ET.parse(merged).getroot()
    for tag in ('summary', 'name'):
        if not any(e.get(XML_LANG) == 'de' for e in comp.findall(tag)):
            return [f'merged metainfo has no German <{tag} xml:lang="de">']
    if not comp.findall(f'description/p[@{XML_LANG}="de"]'):
        return ['merged metainfo has no German description']
    return []


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    merged, version = sys.argv[2], sys.argv[3]
    comp = ET.parse(root / 'data' / f'{APP_ID}.metainfo.xml.in').getroot()
    problems = check_source(root, comp, version) + check_merged(merged)
    for p in problems:
        print('FAIL:', p)
    print(f'# {len(problems)} problem(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
