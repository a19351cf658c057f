"""A fake camera for Chromium: a Y4M video showing a QR code, for
``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=<file>``.

Chromium loops the file as the camera's picture, so a page's getUserMedia sees the code as a
phone held in front of it would. Drawn from segno's module matrix (no image library needed):
black modules on white, a quiet zone, grey chroma.
"""

from __future__ import annotations

from pathlib import Path

import segno

WIDTH, HEIGHT = 640, 480


def qr_video(text: str, path: Path, *, frames: int = 5) -> Path:
    matrix = segno.make(text, error="m").matrix  # rows of 0/1 (dark = 1)
    size = len(matrix) + 8  # 4 modules of quiet zone on each side
    scale = min(WIDTH, HEIGHT) * 9 // 10 // size
    left, top = (WIDTH - size * scale) // 2, (HEIGHT - size * scale) // 2
    luma = bytearray(b"\xeb" * (WIDTH * HEIGHT))  # video white (235)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if not dark:
                continue
            y0, x0 = top + (r + 4) * scale, left + (c + 4) * scale
            for y in range(y0, y0 + scale):
                luma[y * WIDTH + x0 : y * WIDTH + x0 + scale] = b"\x10" * scale  # video black
    chroma = b"\x80" * (WIDTH // 2 * HEIGHT // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path
