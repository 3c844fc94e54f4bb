"""The S3 media store (AWS S3, MinIO, Cloudflare R2, SeaweedFS) through aiobotocore.

Credentials come from settings; the secret may be sealed with ENCRYPTION_KEY (`wagate media seal-secret`) so the
.env holds no plaintext. Neither is ever logged: errors carry the S3 error code only. Checksums are sent only when
an operation requires them, as several S3-compatible servers refuse botocore's newer default trailing checksums.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from wagate.config import Settings
from wagate.services.media.store import CHUNK, S3, MediumMissing, StoreUnavailable
from wagate.services.webhooks import secrets_box

SEALED_PREFIX = "sealed:"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
_MISSING = {"NoSuchKey", "404", "NotFound"}


def unseal(settings: Settings, value: str) -> str:
    """A secret as configured: plain, or `sealed:<token>` encrypted with ENCRYPTION_KEY."""
    if value.startswith(SEALED_PREFIX):
        return secrets_box.decrypt(settings.encryption_key, value.removeprefix(SEALED_PREFIX))
    return value


def seal(settings: Settings, value: str) -> str:
    return SEALED_PREFIX + secrets_box.encrypt(settings.encryption_key, value)


class S3Store:
    kind = S3

    def __init__(self, *, endpoint: str | None, region: str, bucket: str, prefix: str, access_key: str,
                 secret_key: str, path_style: bool, public_url: str | None, presign_s: int) -> None:
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        self.public_url = public_url.rstrip("/") if public_url else None
        self.presign_s = presign_s
        self._config = AioConfig(
            signature_version="s3v4", s3={"addressing_style": "path" if path_style else "auto"},
            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": 2, "mode": "standard"},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self._session: AioSession = get_session()

    def __repr__(self) -> str:  # never the credentials
        return f"S3Store(endpoint={self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        return cls(endpoint=settings.media_s3_endpoint, region=settings.media_s3_region,
                   bucket=settings.media_s3_bucket or "", prefix=settings.media_s3_prefix,
                   access_key=settings.media_s3_access_key or "",
                   secret_key=unseal(settings, settings.media_s3_secret_key or ""),
                   path_style=settings.media_s3_path_style, public_url=settings.media_s3_public_url,
                   presign_s=settings.media_s3_presign_s)

    def _client(self) -> Any:
        return self._session.create_client("s3", endpoint_url=self.endpoint, region_name=self.region,
                                           config=self._config, **self._credentials)

    def object_key(self, key: str) -> str:
        return self.prefix + key

    async def put(self, key: str, path: Path, mimetype: str) -> None:
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
            fh = await asyncio.to_thread(open, path, "rb")
            try:
                async with self._client() as client:
                    # The file object is streamed by the HTTP client; ContentLength keeps it from buffering.
                    await client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=fh,
                                            ContentLength=size, ContentType=mimetype)
            finally:
                fh.close()
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(_reason("could not store the medium", exc)) from exc

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async with contextlib.AsyncExitStack() as stack:
            try:
                client = await stack.enter_async_context(self._client())
                answer = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
                body = await stack.enter_async_context(answer["Body"])
            except ClientError as exc:
                if _code(exc) in _MISSING:
                    raise MediumMissing("the object store has no such medium") from exc
                raise StoreUnavailable(_reason("could not read the medium", exc)) from exc
            except (BotoCoreError, OSError, TimeoutError) as exc:
                raise StoreUnavailable(_reason("could not read the medium", exc)) from exc
            try:
                async for chunk in body.iter_chunks(CHUNK):
                    yield chunk
            except (BotoCoreError, OSError, TimeoutError) as exc:
                raise StoreUnavailable(_reason("the medium stopped half-way", exc)) from exc

    async def delete(self, key: str) -> None:
        try:
            async with self._client() as client:
                await client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(_reason("could not delete the medium", exc)) from exc

    async def exists(self, key: str) -> bool:
        try:
            async with self._client() as client:
                await client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise StoreUnavailable(_reason("could not look the medium up", exc)) from exc
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(_reason("could not look the medium up", exc)) from exc
        return True

    async def check(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S), self._client() as client:
                await client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(_reason(f"bucket {self.bucket!r} cannot be reached", exc)) from exc

    async def direct_url(self, key: str, mimetype: str, file_name: str | None) -> str | None:
        if self.public_url:
            return f"{self.public_url}/{quote(self.object_key(key))}"
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key), "ResponseContentType": mimetype}
        if file_name:
            params["ResponseContentDisposition"] = f"inline; filename*=UTF-8''{quote(file_name)}"
        async with self._client() as client:  # signing is local: no request is made
            url: str = await client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.presign_s)
        return url

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests, first start against an empty MinIO or SeaweedFS)."""
        try:
            async with self._client() as client:
                try:
                    await client.head_bucket(Bucket=self.bucket)
                except ClientError:
                    await client.create_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(_reason(f"bucket {self.bucket!r} cannot be created", exc)) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reason(what: str, exc: BaseException) -> str:
    """`what` and the error's kind; an S3 error code rather than its message, which may quote a signed URL."""
    if isinstance(exc, ClientError):
        return f"{what}: S3 answered {_code(exc) or 'an error'}"
    return f"{what}: {type(exc).__name__}"
