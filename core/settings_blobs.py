"""Where original files and parse results are kept: ``ZHIKU_BLOBS__*``.

The local folder (``ZHIKU_BLOB_DIR``, else ``<data_dir>/blobs``) is the embedded default. An
S3-compatible store (AWS S3, MinIO, Ceph RGW, SeaweedFS…) lets API and workers on several
machines share the files: ``ZHIKU_BLOBS__BACKEND=s3`` with at least ``ZHIKU_BLOBS__BUCKET``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class BlobSettings(BaseModel):
    backend: Literal["local", "s3"] = "local"
    # S3: the bucket, and a key prefix inside it (several deployments may share a bucket).
    bucket: str = ""
    prefix: str = ""
    # Empty: AWS itself; otherwise the S3-compatible server's URL (http://minio:9000).
    endpoint_url: str = ""
    region: str = "us-east-1"
    # Empty: boto3's own chain (environment, instance role, ~/.aws).
    access_key_id: str = ""
    secret_access_key: str = Field(default="", repr=False)
    # Path-style URLs (http://host/bucket/key): what MinIO and most self-hosted servers want.
    path_style: bool = True
    # Create the bucket at start when missing (convenient for a private MinIO; off for AWS,
    # where buckets are provisioned with their policies).
    create_bucket: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    # Attempts per request inside the client (its own backoff) before the store counts as
    # down; the document's stage is then retried by the worker's policy.
    max_attempts: int = 3
    # Objects above this are sent in parts of this size (S3 caps one PUT at 5 GiB, and a
    # part may be retried alone).
    multipart_mib: int = 16

    @model_validator(mode="after")
    def _check(self) -> BlobSettings:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("ZHIKU_BLOBS__BACKEND=s3 needs ZHIKU_BLOBS__BUCKET")
        if self.multipart_mib < 5:
            raise ValueError("ZHIKU_BLOBS__MULTIPART_MIB: S3 parts are at least 5 MiB")
        return self
