#!/usr/bin/env python3
"""Renders a `tmux capture-pane -e -p` capture (text with ANSI colours) into
a PNG: the picture of `adgate top` in the README and docs/top.md.

    cargo test --test it top::top_shows_rates   # writes target/tmp/top-screen.ansi
    python3 scripts/top-screenshot.py target/tmp/top-screen.ansi docs/top.png

Needs Pillow (pip install pillow) and the DejaVu Sans Mono font (Debian:
fonts-dejavu-core).
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 14
BG = (24, 26, 33)
FG = (220, 223, 228)
# The 16 ANSI colours (a dark theme).
PALETTE = [
    (40, 42, 54), (232, 92, 92), (120, 200, 120), (230, 200, 90),
    (100, 150, 240), (200, 120, 220), (90, 200, 210), (220, 223, 228),
    (110, 112, 124), (255, 120, 120), (150, 230, 150), (250, 225, 120),
    (140, 180, 255), (230, 150, 245), (130, 230, 240), (255, 255, 255),
]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def apply(state, params):
    codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            state.update(fg=None, bg=None, bold=False, reverse=False)
        elif c == 1:
            state["bold"] = True
        elif c == 22:
            state["bold"] = False
        elif c == 7:
            state["reverse"] = True
        elif c == 27:
            state["reverse"] = False
        elif 30 <= c <= 37:
            state["fg"] = PALETTE[c - 30]
        elif 90 <= c <= 97:
            state["fg"] = PALETTE[c - 90 + 8]
        elif c == 39:
            state["fg"] = None
        elif 40 <= c <= 47:
            state["bg"] = PALETTE[c - 40]
        elif c == 49:
            state["bg"] = None
        elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
            state["fg" if c == 38 else "bg"] = colour256(codes[i + 2])
            i += 2
        i += 1


def main(src, dst):
    lines = open(src, encoding="utf-8").read().rstrip("\n").split("\n")
    while lines and not SGR.sub("", lines[-1]).strip():
        lines.pop()
    font, bold = ImageFont.truetype(FONT, SIZE), ImageFont.truetype(BOLD, SIZE)
    cw = round(font.getlength("M"))
    ch = SIZE + 4
    cols = max(len(SGR.sub("", l)) for l in lines)
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, len(lines) * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    state = dict(fg=None, bg=None, bold=False, reverse=False)
    for y, line in enumerate(lines):
        x = 0
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            m = SGR.fullmatch(part)
            if m:
                apply(state, m.group(1))
                continue
            for char in part:
                fg, bg = state["fg"] or FG, state["bg"]
                if state["reverse"]:
                    fg, bg = bg or BG, fg
                px, py = pad + x * cw, pad + y * ch
                if bg:
                    draw.rectangle([px, py, px + cw, py + ch], fill=bg)
                draw.text((px, py + 1), char, font=bold if state["bold"] else font, fill=fg)
                x += 1
    img.save(dst, optimize=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: top-screenshot.py CAPTURE.ansi OUT.png")
    main(sys.argv[1], sys.argv[2])
