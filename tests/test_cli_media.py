"""`wagate media`: migrate --to s3 against a real S3 server (SeaweedFS) in a real process, and seal-secret."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.fixtures import make_settings
from tests.seaweedfs import SeaweedS3Process
from tests.test_cli import wagate
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.migrate import upgrade
from wagate.services.media.keeping import chunks_of, keep
from wagate.services.media.s3_store import S3Store, unseal
from wagate.services.media.store import media_stores

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000)


def test_seal_secret_prints_what_only_the_encryption_key_opens(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    env = {"JWT_SECRET": settings.jwt_secret, "ENCRYPTION_KEY": settings.encryption_key, "LOG_DIR": str(tmp_path)}
    result = wagate(tmp_path, "media", "seal-secret", stdin="the-bucket-secret\n", **env)
    assert result.returncode == 0, result.stderr
    sealed = result.stdout.strip()
    assert sealed.startswith("sealed:") and "the-bucket-secret" not in sealed
    assert unseal(settings, sealed) == "the-bucket-secret"


def test_migrate_moves_local_media_to_s3_with_a_progress_bar(tmp_path: Path, seaweedfs: SeaweedS3Process) -> None:
    s3 = {"MEDIA_STORE": "s3", "MEDIA_S3_ENDPOINT": seaweedfs.endpoint, "MEDIA_S3_BUCKET": "wagate-media",
          "MEDIA_S3_PREFIX": "cli-test", "MEDIA_S3_ACCESS_KEY": seaweedfs.access_key}
    local = make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    upgrade(local.database_url)

    async def arrange() -> None:
        engine = create_engine(local)
        try:
            await keep(create_sessionmaker(engine), local, media_stores(local), chunks_of(PNG), file_name="a.png")
        finally:
            await engine.dispose()
        s3_settings = local.replace(media_store="s3", media_s3_endpoint=seaweedfs.endpoint,
                                    media_s3_bucket="wagate-media", media_s3_access_key=seaweedfs.access_key,
                                    media_s3_secret_key=seaweedfs.secret_key)
        await S3Store.from_settings(s3_settings).ensure_bucket()

    asyncio.run(arrange())
    env = {"DATABASE_URL": local.database_url, "JWT_SECRET": local.jwt_secret, "ENCRYPTION_KEY": local.encryption_key,
           "UPLOAD_DIR": str(local.upload_dir), "LOG_DIR": str(tmp_path / "logs"), **s3}
    refused = wagate(tmp_path, "media", "migrate", "--to", "s3", **{**env, "MEDIA_STORE": "local"})
    assert refused.returncode == 2 and "MEDIA_STORE is local" in refused.stderr

    sealed = wagate(tmp_path, "media", "seal-secret", stdin=seaweedfs.secret_key + "\n",
                    **{**env, "MEDIA_STORE": "local"}).stdout.strip()
    moved = wagate(tmp_path, "media", "migrate", "--to", "s3", **env, MEDIA_S3_SECRET_KEY=sealed)
    assert moved.returncode == 0, moved.stderr
    assert "] 1/1 media" in moved.stdout and "done: 1 media in the s3 store" in moved.stdout
    assert not any(p.is_file() for p in (local.upload_dir / "media").rglob("*"))
    again = wagate(tmp_path, "media", "migrate", "--to", "s3", **env, MEDIA_S3_SECRET_KEY=sealed)
    assert again.returncode == 0 and "done: 0 media" in again.stdout
