"""The blob store on an S3-compatible server (AWS S3, MinIO, Ceph RGW, …), so API and
workers on several machines share the files. The keys are ours (``core.blobs.check_key``),
under an optional prefix inside the bucket.

Errors are translated at this edge: a missing object is ``NotFound``; a server that cannot be
reached, times out, or answers 5xx/throttling is ``UpstreamUnavailable`` (file store, down),
which the workers' retry policy retries and, past its retries, fails the document with a
reason (its original stays where it is: nothing is lost, ``retry`` takes it up again).
Anything else (access denied, no such bucket) is a configuration error and is raised as is.

boto3 is the optional extra ``s3`` (``pip install 'zhiku[s3]'``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from core.blobs import BlobInfo, check_key
from core.errors import Component, NotFound, UpstreamUnavailable
from core.settings_blobs import BlobSettings

_MISSING = {"404", "NoSuchKey", "NotFound"}
_DOWN = {"500", "502", "503", "504", "SlowDown", "ServiceUnavailable", "InternalError",
         "RequestTimeout", "RequestTimeTooSkewed"}  # fmt: skip
# S3 deletes at most this many keys per request.
_DELETE_BATCH = 1000


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "", part_mib: int = 16) -> None:
        self._client = client
        self.bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._part = part_mib * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: BlobSettings) -> S3BlobStore:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=settings.connect_timeout_s,
            read_timeout=settings.read_timeout_s,
            retries={"max_attempts": settings.max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if settings.path_style else "auto"},
        )
        client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url or None,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id or None,
            aws_secret_access_key=settings.secret_access_key or None,
            config=config,
        )
        store = cls(client, settings.bucket, settings.prefix, settings.multipart_mib)
        if settings.create_bucket:
            store.ensure_bucket()
        return store

    def ensure_bucket(self) -> None:
        with _translated(f"bucket {self.bucket}"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except Exception as exc:
                if _code(exc) not in _MISSING | {"NoSuchBucket"}:
                    raise
            self._client.create_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)
        with _translated(key):
            if len(data) <= self._part:
                self._client.put_object(Bucket=self.bucket, Key=name, Body=data)
                return
            # A big object goes in parts (each retried alone by the client, and S3 caps
            # one PUT at 5 GiB); the object appears only when the upload completes.
            from boto3.s3.transfer import TransferConfig

            config = TransferConfig(multipart_threshold=self._part, multipart_chunksize=self._part)
            self._client.upload_fileobj(io.BytesIO(data), self.bucket, name, Config=config)

    def get(self, key: str) -> bytes:
        name = self._key(key)
        with _translated(key):
            body = self._client.get_object(Bucket=self.bucket, Key=name)["Body"]
            try:
                return body.read()
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        name = self._key(key)
        try:
            with _translated(key):
                self._client.head_object(Bucket=self.bucket, Key=name)
        except NotFound:
            return False
        return True

    def delete_prefix(self, prefix: str) -> None:
        """The object named ``prefix`` and every object below it (``t1/d1`` spares ``t1/d10``)."""
        base = self._key(prefix.rstrip("/"))
        with _translated(prefix):
            names = [base, *(item["Key"] for item in self._objects(base + "/"))]
            for start in range(0, len(names), _DELETE_BATCH):
                batch = names[start : start + _DELETE_BATCH]
                self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": n} for n in batch], "Quiet": True},
                )

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        base = self._key(prefix.rstrip("/")) + "/" if prefix else self._prefix
        with _translated(prefix or "the bucket"):
            for item in self._objects(base):
                yield BlobInfo(
                    item["Key"][len(self._prefix) :],
                    int(item["Size"]),
                    item["LastModified"].astimezone(UTC),
                )

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self._client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def close(self) -> None:
        self._client.close()


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def _translated(what: str) -> Iterator[None]:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code in _MISSING:
            raise NotFound(f"blob {what} is missing") from exc
        if code in _DOWN:
            raise _down(what, exc) from exc
        raise
    except (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionClosedError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise _down(what, exc) from exc


def _down(what: str, exc: BaseException) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"the S3 file store failed on {what}: {type(exc).__name__}: {exc}",
        component=Component.FILE_STORE,
    )
