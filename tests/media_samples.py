"""Real media files for the send tests, made once per process with ffmpeg and Pillow (as a phone would make them)."""

from __future__ import annotations

import functools
import io
import subprocess
import tempfile
from pathlib import Path

BIG_VIDEO_BYTES = 10 * 2**20


def _ffmpeg(*args: str, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="wagate-samples-") as folder:
        out = Path(folder) / f"out{suffix}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True, timeout=120)
        return out.read_bytes()


@functools.cache
def mp4(seconds: int = 2, size: str = "320x240") -> bytes:
    """An H.264 MP4 of a test picture, `seconds` long."""
    return _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r=25", "-t", str(seconds), "-c:v", "libx264",
                   "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", suffix=".mp4")


@functools.cache
def big_mp4() -> bytes:
    """A video of a little over 10 MB (noise keeps the encoder from compressing it away)."""
    return _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25,noise=alls=30:allf=t", "-t", "8", "-c:v", "libx264",
                   "-preset", "ultrafast", "-b:v", "10500k", "-maxrate", "10500k", "-bufsize", "4M",
                   "-pix_fmt", "yuv420p", "-movflags", "+faststart", suffix=".mp4")


@functools.cache
def mp3(seconds: int = 3) -> bytes:
    return _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "libmp3lame", "-b:a", "64k",
                   suffix=".mp3")


@functools.cache
def png(width: int = 300, height: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 255)).save(out, "PNG")
    return out.getvalue()


@functools.cache
def jpeg(width: int = 640, height: int = 480) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def pdf(pages: int = 3) -> bytes:
    """A small valid PDF of `pages` empty pages."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{3 + n} 0 R' for n in range(pages))}] /Count {pages} >>"]
    objects += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    body, offsets = b"%PDF-1.4\n", []
    for n, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{n} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body
