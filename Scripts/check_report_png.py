#!/usr/bin/env python3
"""Checks a browser's screenshot of a bertcheck HTML report (Scripts/check-report-browser.sh):
the plot's frame is drawn (its colour, #123456, is used nowhere else), the plot inside it holds
the error line (#1f5fbf), and the first-divergence bar (#ff00ff) is there exactly when expected.
Standard library only: a small PNG decoder over zlib.

  check_report_png.py SHOT.png --marker yes|no [--max-width PX] [--crop OUT.png]

--crop also writes the screenshot cut below the page's last non-white row, at most --crop-height
rows (for Docs/img/).
Exit 0 when every check holds; 1 with one line per failed check otherwise."""
import argparse
import struct
import sys
import zlib

FRAME = (0x12, 0x34, 0x56)
MARKER = (0xFF, 0x00, 0xFF)
LINE = (0x1F, 0x5F, 0xBF)


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat, width = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                sys.exit(f"{path}: only 8-bit RGB/RGBA non-interlaced PNGs are read (depth {depth}, colour type {colour})")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if width is None:
        sys.exit(f"{path}: no IHDR chunk")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        rows.append(unfilter(raw[start], raw[start + 1:start + 1 + stride], previous, channels))
        previous = rows[-1]
    # Keep RGB only, three bytes a pixel.
    if channels == 4:
        rows = [bytes(b for i, b in enumerate(row) if i % 4 != 3) for row in rows]
    return width, height, rows


def unfilter(kind, line, previous, channels):
    """One scanline of PNG filter type `kind` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth)."""
    if kind == 0:
        return bytes(line)
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, previous))
    out = bytearray(line)
    n = len(out)
    if kind == 1:
        for i in range(channels, n):
            out[i] = (out[i] + out[i - channels]) & 0xFF
        return bytes(out)
    for i in range(n):
        left = out[i - channels] if i >= channels else 0
        up = previous[i]
        if kind == 3:
            out[i] = (out[i] + ((left + up) >> 1)) & 0xFF
            continue
        corner = previous[i - channels] if i >= channels else 0
        pa, pb, pc = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
        out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
    return bytes(out)


def positions(rows, colour):
    """(x, y) of every pixel of exactly this colour."""
    needle = bytes(colour)
    found = []
    for y, row in enumerate(rows):
        at = row.find(needle)
        while at >= 0:
            if at % 3 == 0:
                found.append((at // 3, y))
            at = row.find(needle, at + 1)
    return found


def write_png(path, rows):
    width, height = len(rows[0]) // 3, len(rows)
    raw = b"".join(b"\x00" + row for row in rows)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def close(p, q, slack=24):
    return all(abs(a - b) <= slack for a, b in zip(p, q))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("png")
    parser.add_argument("--marker", choices=["yes", "no"], required=True)
    parser.add_argument("--max-width", type=int)
    parser.add_argument("--crop")
    parser.add_argument("--crop-height", type=int, default=1500, help="at most this many rows in the cropped copy")
    args = parser.parse_args()
    width, height, rows = read_png(args.png)
    problems = []
    frame = positions(rows, FRAME)
    if len(frame) < 200:
        print(f"{args.png}: the plot's frame is not drawn ({len(frame)} frame pixels)")
        return 1
    left, right = min(x for x, _ in frame), max(x for x, _ in frame)
    top, bottom = min(y for _, y in frame), max(y for _, y in frame)
    box_w, box_h = right - left, bottom - top
    if box_w < 150 or box_h < 60:
        problems.append(f"the plot's box is too small: {box_w}×{box_h} px")
    if args.max_width and right >= args.max_width:
        problems.append(f"the plot reaches x={right}, past the {args.max_width} px window")
    inside = [tuple(rows[y][3 * x:3 * x + 3]) for y in range(top + 2, bottom - 1) for x in range(left + 2, right - 1)]
    drawn = sum(1 for p in inside if p != (255, 255, 255))
    line = sum(1 for p in inside if close(p, LINE))
    marker = sum(1 for p in inside if p == MARKER)
    if drawn < box_w * box_h // 100:
        problems.append(f"almost nothing is drawn inside the plot ({drawn} non-background pixels)")
    if line < 30:
        problems.append(f"the error line is not drawn ({line} pixels of its colour)")
    if args.marker == "yes" and marker < box_h:
        problems.append(f"the first-divergence marker is missing ({marker} pixels of its colour)")
    if args.marker == "no" and marker > 0:
        problems.append(f"a first-divergence marker is drawn where none is expected ({marker} pixels)")
    for problem in problems:
        print(f"{args.png}: {problem}")
    if not problems:
        print(f"{args.png}: plot {box_w}×{box_h} px at ({left}, {top}), {drawn} pixels drawn, "
              f"error line {line} px, marker {marker} px")
    if args.crop:
        white = b"\xff" * (3 * width)
        last = max((y for y in range(height) if rows[y] != white), default=0)
        write_png(args.crop, rows[:min(height, last + 16, args.crop_height)])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
