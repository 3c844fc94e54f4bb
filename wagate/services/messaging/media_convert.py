"""Media put in the form WhatsApp plays, with what it shows before downloading: ffmpeg/ffprobe and Pillow.

A voice note is Opus in Ogg (mono, 48 kHz), as WhatsApp's own recorder makes it; a sticker a 512×512 WebP; images
and videos carry a small JPEG thumbnail and their dimensions, audio and video their duration, a PDF its pages.
ffmpeg reads from a temporary file: an MP4 whose index sits at the end cannot be read from a pipe.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wagate.errors import ServiceUnavailable, UnsupportedMediaType

FFMPEG_TIMEOUT_S = 60.0  # a 16 MB video is read in well under a second; a stuck ffmpeg must not hold the request
THUMBNAIL_PX = 100  # longest side of a thumbnail, as WhatsApp's clients make them (a few KB of JPEG)
THUMBNAIL_QUALITY = 60
STICKER_PX = 512  # WhatsApp's sticker canvas
VOICE_BITRATE = "32k"
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


@dataclass(frozen=True, slots=True)
class Facts:
    """What a medium's message shows: dimensions, duration, a thumbnail, pages."""

    width: int | None = None
    height: int | None = None
    seconds: int | None = None
    thumbnail: bytes | None = None
    page_count: int | None = None


def _tools() -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise ServiceUnavailable("ffmpeg is not installed on this server: voice notes and videos cannot be prepared",
                                 details={"media": ["needs ffmpeg and ffprobe (Debian package ffmpeg)"]})
    return ffmpeg, ffprobe


async def _run(*command: str) -> bytes:
    process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(FFMPEG_TIMEOUT_S):
            out, err = await process.communicate()
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise UnsupportedMediaType("The media could not be read in time",
                                   details={"media": ["conversion timed out"]}) from exc
    if process.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()[-1:] or ["unreadable"]
        raise UnsupportedMediaType(f"The media could not be read: {reason[0][:200]}",
                                   details={"media": ["could not be read or converted"]})
    return out


async def _probe(path: Path) -> Facts:
    _, ffprobe = _tools()
    out = await _run(ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path))
    found = json.loads(out or b"{}")
    width = height = None
    for stream in found.get("streams", []):
        if stream.get("codec_type") == "video" and stream.get("width"):
            width, height = int(stream["width"]), int(stream["height"])
            break
    duration = found.get("format", {}).get("duration")
    seconds = max(1, round(float(duration))) if duration not in (None, "N/A") else None
    return Facts(width=width, height=height, seconds=seconds)


async def video_facts(data: bytes) -> Facts:
    """Dimensions, duration and a JPEG thumbnail of the first frame of a video."""
    ffmpeg, _ = _tools()
    with tempfile.TemporaryDirectory(prefix="wagate-media-") as folder:
        source = Path(folder) / "video"
        await asyncio.to_thread(source.write_bytes, data)
        facts = await _probe(source)
        if facts.width is None:
            raise UnsupportedMediaType("The video has no picture", details={"media": ["holds no video stream"]})
        scale = f"scale='if(gt(iw,ih),{THUMBNAIL_PX},-2)':'if(gt(iw,ih),-2,{THUMBNAIL_PX})'"
        thumbnail = await _run(ffmpeg, "-v", "error", "-i", str(source), "-frames:v", "1", "-vf", scale,
                               "-q:v", "8", "-f", "image2", "-c:v", "mjpeg", "pipe:1")
    return Facts(width=facts.width, height=facts.height, seconds=facts.seconds, thumbnail=thumbnail or None)


async def voice_note(data: bytes) -> tuple[bytes, Facts]:
    """Any audio (or a video's sound) as a WhatsApp voice note: Opus in Ogg, mono, 48 kHz; and its duration."""
    ffmpeg, _ = _tools()
    with tempfile.TemporaryDirectory(prefix="wagate-media-") as folder:
        source, target = Path(folder) / "audio", Path(folder) / "voice.ogg"
        await asyncio.to_thread(source.write_bytes, data)
        await _run(ffmpeg, "-v", "error", "-i", str(source), "-vn", "-map_metadata", "-1", "-ac", "1", "-ar", "48000",
                   "-c:a", "libopus", "-b:a", VOICE_BITRATE, "-application", "voip", "-f", "ogg", str(target))
        facts = await _probe(target)
        return await asyncio.to_thread(target.read_bytes), Facts(seconds=facts.seconds)


async def audio_facts(data: bytes) -> Facts:
    with tempfile.TemporaryDirectory(prefix="wagate-media-") as folder:
        source = Path(folder) / "audio"
        await asyncio.to_thread(source.write_bytes, data)
        return Facts(seconds=(await _probe(source)).seconds)


def image_facts(data: bytes) -> Facts:
    """Dimensions and a JPEG thumbnail of an image (Pillow; run it in a thread)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            small = image.convert("RGB")
            small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=THUMBNAIL_QUALITY)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMediaType("The image could not be read", details={"media": [str(exc)[:200]]}) from exc
    return Facts(width=width, height=height, thumbnail=out.getvalue())


def sticker(data: bytes) -> tuple[bytes, Facts]:
    """A PNG, JPEG or WebP image as a WhatsApp sticker: fitted into a transparent 512×512 WebP (Pillow)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            picture = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedMediaType("The sticker image could not be read", details={"media": [str(exc)[:200]]}) from exc
    picture.thumbnail((STICKER_PX, STICKER_PX))
    canvas = Image.new("RGBA", (STICKER_PX, STICKER_PX), (0, 0, 0, 0))
    canvas.paste(picture, ((STICKER_PX - picture.width) // 2, (STICKER_PX - picture.height) // 2), picture)
    out = io.BytesIO()
    canvas.save(out, "WEBP", quality=80)
    return out.getvalue(), Facts(width=STICKER_PX, height=STICKER_PX)


def pdf_pages(data: bytes) -> int | None:
    """The pages of a PDF by its page objects: cheap, and right for the PDFs phones and office suites write."""
    count = len(_PDF_PAGE.findall(data))
    return count or None
