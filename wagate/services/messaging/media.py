"""Uploaded media: size limit, content sniffed from the bytes (never the declared type or name), safe file names.

Keeping the bytes is `wagate.services.media` (by content hash, in the local or S3 store).

What a file *is* comes from its magic numbers and structure only: a client-supplied mimetype or extension
is a claim an attacker controls. Anything not positively recognised as an allowed kind is refused, so a
new dangerous format is refused by default rather than by a deny list someone forgot to extend.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from wagate.config import Settings
from wagate.db.enums import MessageType
from wagate.errors import Invalid, PayloadTooLarge, UnsupportedMediaType, too_large_message

Category = Literal["image", "video", "audio", "document"]

ALLOWED_KINDS = (
    "images (JPEG, PNG, WebP), video (MP4, 3GP), audio (Ogg Opus, MP3, AAC/M4A, AMR), "
    "documents (PDF, DOCX, XLSX, PPTX, plain text, CSV)"
)
# Text kinds keep a harmless extension the sender chose (a .csv stays a .csv); anything else becomes .txt.
_TEXT_EXTENSIONS = {"txt": "text/plain", "csv": "text/csv", "tsv": "text/tab-separated-values",
                    "log": "text/plain", "md": "text/plain", "json": "text/plain"}
# How much of a text file is examined for markup: browsers sniff HTML from the first bytes the same way.
_TEXT_SNIFF_BYTES = 4096
_MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|\?xml)\b", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash",
               b"M4V ", b"M4VP", b"MSNV", b"mmp4", b"M4A ", b"M4B "}
_OFFICE = {
    "word/document.xml": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "DOCX"),
    "xl/workbook.xml": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "XLSX"),
    "ppt/presentation.xml": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx", "PPTX"),
}
# Which message types each category may be sent as: anything allowed may also go as a document.
_FITS: dict[Category, frozenset[MessageType]] = {
    "image": frozenset({MessageType.IMAGE, MessageType.DOCUMENT}),
    "video": frozenset({MessageType.VIDEO, MessageType.DOCUMENT}),
    "audio": frozenset({MessageType.AUDIO, MessageType.DOCUMENT}),
    "document": frozenset({MessageType.DOCUMENT}),
}


@dataclass(frozen=True, slots=True)
class MediaKind:
    """What sniffing found: the real mimetype, the extension to store it under, and its category."""

    mimetype: str
    extension: str
    category: Category
    label: str  # for error messages: "PDF document", "PNG image"


def check_upload(data: bytes, file_name: str | None, message_type: MessageType | str, settings: Settings
                 ) -> MediaKind:
    """Size, then kind, then whether the kind fits `message_type`; raises the matching domain error."""
    if not data:
        raise Invalid("Invalid message", details={"media": "is empty"})
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(too_large_message(settings.max_upload_mb),
                              details={"media": [f"is {len(data)} bytes; the limit is {settings.max_upload_mb} MB"]})
    kind = sniff(data, file_name)
    wanted = MessageType(message_type)
    if wanted not in _FITS[kind.category]:
        raise UnsupportedMediaType(
            f"A {kind.label} cannot be sent as {wanted.value}; send it as {kind.category} or document",
            details={"type": f"does not fit the file, which is a {kind.label}"},
        )
    return kind


def sniff(data: bytes, file_name: str | None = None) -> MediaKind:
    """The kind of `data` from its bytes; `file_name` only chooses between equally safe text flavours."""
    kind = _binary_kind(data)
    if kind is None:
        kind = _text_kind(data, file_name)
    if kind is None:
        what = _refused_what(data)
        raise UnsupportedMediaType(f"{what} cannot be sent; allowed: {ALLOWED_KINDS}", details={"media": what})
    return kind


def safe_file_name(name: str | None, extension: str) -> str:
    """The sender's file name without folders, control or odd characters, ending in the sniffed extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = unicodedata.normalize("NFC", stem)
    # \w is Unicode-aware: Indonesian, Arabic or Chinese names stay readable; bidi overrides and the like go.
    stem = re.sub(r"[^\w\s().,&+-]", "_", stem)
    stem = re.sub(r"\s+", " ", stem).strip(" ._")[:120]
    return f"{stem or 'file'}.{extension}"


def _binary_kind(data: bytes) -> MediaKind | None:  # noqa: C901 - one flat table of formats reads best
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return MediaKind("image/jpeg", "jpg", "image", "JPEG image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaKind("image/png", "png", "image", "PNG image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaKind("image/webp", "webp", "image", "WebP image")
    if head[4:8] == b"ftyp":
        return _iso_media_kind(data)
    if head.startswith(b"OggS"):
        # The first page carries the codec's identification header; only Opus is what WhatsApp plays.
        if head[28:36] == b"OpusHead":
            return MediaKind("audio/ogg; codecs=opus", "ogg", "audio", "Ogg Opus audio")
        return None
    if head.startswith(b"#!AMR"):
        return MediaKind("audio/amr", "amr", "audio", "AMR audio")
    if head.startswith(b"ID3") or _mpeg_audio_frame(head):
        return MediaKind("audio/mpeg", "mp3", "audio", "MP3 audio")
    if _adts_frame(head):
        return MediaKind("audio/aac", "aac", "audio", "AAC audio")
    if head.startswith(b"%PDF-"):
        return MediaKind("application/pdf", "pdf", "document", "PDF document")
    if head.startswith(b"PK\x03\x04"):
        return _office_kind(data)
    return None


def _iso_media_kind(data: bytes) -> MediaKind | None:
    """MP4, M4A and 3GP share one box format: the brand says which family, the track handlers what it holds."""
    brand = data[8:12]
    handlers = set(_track_handlers(data))
    if brand.startswith((b"3gp", b"3g2")):
        return MediaKind("video/3gpp", "3gp", "video", "3GP video")
    if brand not in _MP4_BRANDS:
        return None  # QuickTime, HEIF/AVIF images and other ISO formats WhatsApp does not take
    if b"vide" in handlers or (not handlers and brand not in (b"M4A ", b"M4B ")):
        return MediaKind("video/mp4", "mp4", "video", "MP4 video")
    return MediaKind("audio/mp4", "m4a", "audio", "M4A audio")


def _track_handlers(data: bytes) -> Iterator[bytes]:
    """The handler type (`vide`, `soun`, …) of every track: moov → trak → mdia → hdlr."""
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for trak, t_start, t_end in _boxes(data, start, end):
            if trak != b"trak":
                continue
            for mdia, m_start, m_end in _boxes(data, t_start, t_end):
                if mdia != b"mdia":
                    continue
                for hdlr, h_start, _ in _boxes(data, m_start, m_end):
                    if hdlr == b"hdlr":
                        yield data[h_start + 8:h_start + 12]  # after version/flags and pre_defined


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        header = 8
        if size == 1:  # 64-bit size follows the type
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
            header = 16
        elif size == 0:  # the box runs to the end of the file
            size = end - pos
        if size < header or pos + size > end:
            return  # truncated or not a box at all: stop rather than read garbage
        yield data[pos + 4:pos + 8], pos + header, pos + size
        pos += size


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG-1/2 audio frame header: sync bits, a real layer, and bitrate/sample-rate indexes in range."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x3, (head[1] >> 1) & 0x3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def _adts_frame(head: bytes) -> bool:
    """An AAC ADTS header: the MPEG sync bits with layer 0."""
    return len(head) >= 7 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13


def _office_kind(data: bytes) -> MediaKind | None:
    """A DOCX/XLSX/PPTX by its parts; other ZIPs (which may carry anything) and macro documents are refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())  # the central directory only: nothing is decompressed
    except (zipfile.BadZipFile, ValueError, EOFError):
        return None
    if "[Content_Types].xml" not in names or any(name.lower().endswith("vbaproject.bin") for name in names):
        return None
    for part, (mimetype, extension, label) in _OFFICE.items():
        if part in names:
            return MediaKind(mimetype, extension, "document", f"{label} document")
    return None


def _text_kind(data: bytes, file_name: str | None) -> MediaKind | None:
    """UTF-8 text without control characters, markup or a shebang: plain text, or CSV/TSV by the sender's name."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(text) or text.lstrip().startswith(("#!", "<")) or _MARKUP.search(data[:_TEXT_SNIFF_BYTES]):
        return None
    extension = (file_name or "").rsplit(".", 1)[-1].lower() if "." in (file_name or "") else "txt"
    if extension not in _TEXT_EXTENSIONS:
        extension = "txt"
    mimetype = _TEXT_EXTENSIONS[extension]
    return MediaKind(mimetype, extension, "document", "CSV document" if extension == "csv" else "text document")


def _refused_what(data: bytes) -> str:
    """A name for a refused file, so the error says what was recognised rather than only "unsupported"."""
    head = data[:_TEXT_SNIFF_BYTES]
    if head.startswith(b"\x7fELF"):
        return "An executable (ELF)"
    if head.startswith(b"MZ"):
        return "A Windows executable"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                    b"\xca\xfe\xba\xbe"):
        return "An executable (Mach-O or Java class)"
    if head.lstrip().startswith(b"#!"):
        return "A script"
    if re.search(rb"<\s*svg\b", head, re.I):
        return "An SVG image"
    if _MARKUP.search(head) or head.lstrip().startswith(b"<"):
        return "An HTML or XML file"
    if head.startswith(b"PK\x03\x04"):
        return "A ZIP archive that is not a DOCX, XLSX or PPTX document (or holds macros)"
    if head.startswith(b"GIF8"):
        return "A GIF image"
    return "A file of an unknown type"
