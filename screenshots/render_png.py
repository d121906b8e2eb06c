#!/usr/bin/env python3
"""Renders a terminal capture with ANSI colours (`tmux capture-pane -e -p`) to a PNG.

Usage: python3 screenshots/render_png.py IN.ansi OUT.png   (needs Pillow: pip install pillow)
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
BG = (24, 24, 28)
FG = (210, 210, 210)
# The 16 ANSI colours (xterm defaults, a little softened).
BASE = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188), (17, 168, 205),
        (229, 229, 229), (118, 118, 118), (241, 76, 76), (35, 209, 139), (245, 245, 67), (59, 142, 234),
        (214, 112, 214), (41, 184, 219), (255, 255, 255)]


def color256(n):
    if n < 16:
        return BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    level = 8 + (n - 232) * 10
    return level, level, level


def parse(line):
    """Yields (char, fg, bg, bold) for each cell of one line."""
    fg, bg, bold, reverse = FG, BG, False, False
    for part in re.split(r"(\x1b\[[0-9;]*m)", line):
        if part.startswith("\x1b["):
            codes = [int(c) if c else 0 for c in part[2:-1].split(";")] or [0]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    fg, bg, bold, reverse = FG, BG, False, False
                elif c == 1:
                    bold = True
                elif c == 7:
                    reverse = True
                elif c == 22:
                    bold = False
                elif c == 27:
                    reverse = False
                elif 30 <= c <= 37:
                    fg = BASE[c - 30]
                elif 90 <= c <= 97:
                    fg = BASE[c - 90 + 8]
                elif c == 39:
                    fg = FG
                elif 40 <= c <= 47:
                    bg = BASE[c - 40]
                elif c == 49:
                    bg = BG
                elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                    if c == 38:
                        fg = color256(codes[i + 2])
                    else:
                        bg = color256(codes[i + 2])
                    i += 2
                i += 1
            continue
        for ch in part:
            yield (ch, bg if reverse else fg, fg if reverse else bg, bold)


def main(src, dst):
    lines = open(src, encoding="utf-8").read().rstrip("\n").split("\n")
    font, bold_font = ImageFont.truetype(FONT, SIZE), ImageFont.truetype(BOLD, SIZE)
    cell_w = int(font.getlength("M"))
    cell_h = SIZE + 4
    cols = max(sum(1 for _ in parse(l)) for l in lines)
    img = Image.new("RGB", (cols * cell_w + 16, len(lines) * cell_h + 16), BG)
    draw = ImageDraw.Draw(img)
    for row, line in enumerate(lines):
        for col, (ch, fg, bg, bold) in enumerate(parse(line)):
            x, y = 8 + col * cell_w, 8 + row * cell_h
            if bg != BG:
                draw.rectangle([x, y, x + cell_w, y + cell_h], fill=bg)
            if ch != " ":
                draw.text((x, y + 1), ch, font=bold_font if bold else font, fill=fg)
    img.save(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
