"""Media uploads: kinds sniffed from real file headers, refusals whatever the name claims, atomic storage."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import pytest

from tests.fixtures import make_settings
from wagate.config import Settings
from wagate.db.enums import MessageType
from wagate.errors import Invalid, PayloadTooLarge, UnsupportedMediaType
from wagate.services.media.keeping import sniff_file
from wagate.services.media.local_store import LocalStore
from wagate.services.media.store import MediumMissing
from wagate.services.messaging import media


def box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def iso_media(brand: bytes, *handlers: bytes) -> bytes:
    """An MP4-family file: ftyp, then moov with one track per handler, then some sample data."""
    tracks = b"".join(box(b"trak", box(b"mdia", box(b"mdhd", bytes(24)) + box(b"hdlr", bytes(8) + h + bytes(12))))
                      for h in handlers)
    return box(b"ftyp", brand + bytes(4) + brand + b"isom") + box(b"moov", box(b"mvhd", bytes(100)) + tracks) \
        + box(b"mdat", os.urandom(256))


def office(*parts: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in ("[Content_Types].xml", *parts):
            archive.writestr(part, "<xml/>")
    return buffer.getvalue()


def ogg(codec_header: bytes) -> bytes:
    # 27-byte page header with one segment, the segment table, then the codec's identification packet
    return b"OggS\x00\x02" + bytes(20) + b"\x01" + bytes([len(codec_header)]) + codec_header


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", b"MZ\x90\x00")
    return buffer.getvalue()


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + os.urandom(200)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + os.urandom(200)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(100)
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"

KINDS = [
    (JPEG, "photo.jpg", "image/jpeg", "image"),
    (PNG, "x", "image/png", "image"),
    (WEBP, None, "image/webp", "image"),
    (iso_media(b"isom", b"vide", b"soun"), "clip.mp4", "video/mp4", "video"),
    (iso_media(b"mp42", b"vide"), "clip.mp4", "video/mp4", "video"),
    (iso_media(b"3gp4", b"vide"), "clip.3gp", "video/3gpp", "video"),
    (iso_media(b"M4A ", b"soun"), "song.m4a", "audio/mp4", "audio"),
    (iso_media(b"isom", b"soun"), "voice.mp4", "audio/mp4", "audio"),  # an MP4 with sound only is audio
    (ogg(b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), "voice.ogg", "audio/ogg; codecs=opus", "audio"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + os.urandom(100), "song.mp3", "audio/mpeg", "audio"),
    (b"\xff\xfb\x90\x64" + os.urandom(100), "song.mp3", "audio/mpeg", "audio"),
    (b"\xff\xf1\x50\x80\x2e\x7f\xfc" + os.urandom(100), "a.aac", "audio/aac", "audio"),
    (b"#!AMR\n" + os.urandom(100), "a.amr", "audio/amr", "audio"),
    (PDF, "invoice.pdf", "application/pdf", "document"),
    (office("word/document.xml"), "a.docx",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
    (office("xl/workbook.xml"), "a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "document"),
    (office("ppt/presentation.xml"), "a.pptx",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
    ("Halo, ruang rapat dipinjam jam 10 — terima kasih 🙏\n".encode(), "notes.txt", "text/plain", "document"),
    ("\ufeffnama,nomor\nBudi,0812\n".encode(), "contacts.csv", "text/csv", "document"),
    (b"plain words", "readme", "text/plain", "document"),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No database or Redis here: media checks and storage touch only the upload folder."""
    return make_settings(tmp_path, MAX_UPLOAD_MB="1")


@pytest.mark.parametrize(("data", "name", "mimetype", "category"), KINDS)
def test_allowed_kinds_are_recognised_from_their_bytes(data: bytes, name: str | None, mimetype: str,
                                                       category: str) -> None:
    kind = media.sniff(data, name)
    assert (kind.mimetype, kind.category) == (mimetype, category)


@pytest.mark.parametrize(("data", "what"), [
    (ELF, "executable (ELF)"),
    (b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(100), "Windows executable"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + os.urandom(100), "Mach-O"),
    (HTML, "HTML"),
    (b"  \n<html><body>hi</body></html>", "HTML"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "SVG"),
    (b"<?xml version='1.0'?><svg/>", "SVG"),
    (b"Dear user,\n<script>steal()</script>", "HTML"),
    (b"#!/bin/sh\nrm -rf /\n", "script"),
    (plain_zip(), "ZIP archive"),
    (office("word/document.xml", "word/vbaProject.bin"), "ZIP archive"),  # a macro document
    (b"GIF89a" + os.urandom(100), "GIF"),
    (iso_media(b"qt  ", b"vide"), "unknown"),  # QuickTime
    (iso_media(b"heic"), "unknown"),  # HEIF image
    (ogg(b"\x01vorbis" + bytes(20)), "unknown"),  # Ogg, but not Opus
    (b"text with a NUL\x00 byte", "unknown"),
    (b"caf\xe9 in latin-1", "unknown"),
    (bytes(range(1, 65)), "unknown"),
])
def test_other_kinds_are_refused_with_a_name_and_the_allowed_list(data: bytes, what: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        media.sniff(data, "innocent.jpg")
    assert raised.value.status == 415
    assert isinstance(raised.value, Invalid)
    assert what in raised.value.message
    assert "images (JPEG, PNG, WebP)" in raised.value.message


@pytest.mark.parametrize(("data", "declared"), [(ELF, "photo.jpg"), (HTML, "photo.jpg"), (HTML, "notes.txt")])
def test_the_declared_name_never_makes_a_file_acceptable(data: bytes, declared: str, settings: Settings) -> None:
    with pytest.raises(UnsupportedMediaType):
        media.check_upload(data, declared, MessageType.IMAGE, settings)
    with pytest.raises(UnsupportedMediaType):
        media.check_upload(data, declared, MessageType.DOCUMENT, settings)


@pytest.mark.parametrize(("data", "message_type", "fits"), [
    (PNG, MessageType.IMAGE, True),
    (PNG, MessageType.DOCUMENT, True),  # an image may go as a document, uncompressed
    (PNG, MessageType.VIDEO, False),
    (PDF, MessageType.DOCUMENT, True),
    (PDF, MessageType.IMAGE, False),
    (iso_media(b"isom", b"vide"), MessageType.VIDEO, True),
    (iso_media(b"isom", b"vide"), MessageType.AUDIO, False),
    (iso_media(b"M4A ", b"soun"), MessageType.AUDIO, True),
    (iso_media(b"M4A ", b"soun"), MessageType.IMAGE, False),
])
def test_the_message_type_must_fit_the_sniffed_kind(data: bytes, message_type: MessageType, fits: bool,
                                                    settings: Settings) -> None:
    if fits:
        assert media.check_upload(data, "f", message_type, settings)
        return
    with pytest.raises(UnsupportedMediaType) as raised:
        media.check_upload(data, "f", message_type, settings)
    assert "type" in raised.value.details


def test_size_is_checked_first(settings: Settings) -> None:
    limit = settings.max_upload_bytes
    assert media.check_upload(PNG + bytes(limit - len(PNG)), "big.png", "image", settings).mimetype == "image/png"
    with pytest.raises(PayloadTooLarge) as raised:
        media.check_upload(ELF + bytes(limit), "big.png", "image", settings)  # too large wins over the kind
    assert raised.value.status == 413
    with pytest.raises(Invalid) as empty:
        media.check_upload(b"", "empty.png", "image", settings)
    assert empty.value.details == {"media": "is empty"}


async def test_the_local_store_writes_whole_files_under_their_key(settings: Settings, tmp_path: Path) -> None:
    store = LocalStore(settings.upload_dir / "media")
    source = tmp_path / "upload.part"
    source.write_bytes(PNG)
    await store.put("ab/abcdef", source, "image/png")

    target = (settings.upload_dir / "media" / "ab" / "abcdef").absolute()
    assert store.path_of("ab/abcdef") == target and target.read_bytes() == PNG
    assert [p.name for p in target.parent.iterdir()] == ["abcdef"]  # no temp file left beside it
    assert b"".join([chunk async for chunk in store.read("ab/abcdef")]) == PNG
    await store.delete("ab/abcdef")
    await store.delete("ab/abcdef")  # twice is fine: a retention run and a discard may overlap
    with pytest.raises(MediumMissing):
        [chunk async for chunk in store.read("ab/abcdef")]


@pytest.mark.parametrize(("data", "name", "mimetype", "category"), KINDS)
def test_a_file_on_disk_is_sniffed_like_its_bytes(tmp_path: Path, data: bytes, name: str | None, mimetype: str,
                                                  category: str) -> None:
    """Kept media are sniffed from their spooled file: the head, and a ZIP's central directory read from disk."""
    path = tmp_path / "spooled.part"
    path.write_bytes(data)
    assert sniff_file(path, name) == media.sniff(data, name)


@pytest.mark.parametrize(("given", "safe"), [
    ("invoice.pdf", "invoice.pdf"),
    ("Laporan Bulanan (Maret).PDF", "Laporan Bulanan (Maret).pdf"),
    ("../../../etc/passwd", "passwd.pdf"),
    ("C:\\Users\\budi\\Desktop\\report.pdf", "report.pdf"),
    ("invoice\u202efdp.exe", "invoice_fdp.pdf"),  # a right-to-left override would disguise the extension
    ("line\nbreak\tname.pdf", "line break name.pdf"),
    ("...", "file.pdf"),
    ("", "file.pdf"),
    (None, "file.pdf"),
    (".htaccess", "file.pdf"),
    ("文件.pdf", "文件.pdf"),
    ("a" * 300 + ".pdf", "a" * 120 + ".pdf"),
])
def test_safe_file_names(given: str | None, safe: str) -> None:
    assert media.safe_file_name(given, "pdf") == safe
