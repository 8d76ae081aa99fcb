"""Storage profiles: the validators and checksum headers real object stores send on a signed GET.

A client must not take an ETag for a checksum; these profiles give it the shapes that break
that assumption, each as its service sends them:

- `s3`: ETag = quoted MD5 of the object, or an opaque `"<32 hex>-N"` above the multipart
  threshold; `x-amz-server-side-encryption: AES256` (S3's default since 2023).
- `s3-kms`: as `s3`, but the 32 hex digits are not the MD5 (SSE-KMS), and
  `x-amz-server-side-encryption: aws:kms`.
- `gcs`: opaque base64 ETag; `x-goog-hash` twice (crc32c, md5) for the WHOLE object, also on a
  206; `x-goog-generation`, `x-goog-metageneration`, `x-goog-stored-content-length`.
- `azure`: opaque `"0x8D…"` ETag; `Content-MD5` of the blob on a full answer, and on a ranged
  one `x-ms-blob-content-md5` instead (Content-MD5 would describe the range).
- `plain`: a bare web server: no `Accept-Ranges` and `Range` ignored; per object either a weak
  `W/` ETag with `Last-Modified`, or no validator at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from email.utils import format_datetime
from typing import ClassVar

import attrs
from multidict import CIMultiDict

from ._digests import Digests

PROFILE_NAMES = ("s3", "s3-kms", "gcs", "azure", "plain")
_KMS_KEY = b"simulated aws:kms data key"
_KMS_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@attrs.frozen
class StoredObject:
    """What a store knows of one object: a stable identity, size, write time, checksums."""

    identity: str
    size: int
    modified: datetime
    digests: Digests | None = None

    def tag(self, salt: str) -> str:
        """Hex digits derived from the identity alone (opaque, stable per object)."""
        return hashlib.sha256(f"{salt}\x00{self.identity}".encode()).hexdigest()

    @property
    def md5(self) -> bytes:
        """The object's MD5 (the profile asked for digests)."""
        assert self.digests is not None, "this profile needs the object's digests"
        return self.digests.md5


def b64(raw: bytes) -> str:
    """Base64, as stores write binary checksums in headers."""
    return base64.b64encode(raw).decode("ascii")


class Profile:
    """How one kind of storage answers a GET or HEAD of an object."""

    ranges: ClassVar[bool] = True

    def needs_digests(self, size: int) -> bool:
        """Whether answers for an object of this size state a checksum of its bytes."""
        return False

    def etag(self, obj: StoredObject) -> str | None:
        """The ETag header (None: none sent)."""
        raise NotImplementedError

    def last_modified(self, obj: StoredObject) -> str | None:
        """The Last-Modified header (None: none sent)."""
        return format_datetime(obj.modified, usegmt=True)

    def extra(self, obj: StoredObject, ranged: bool) -> list[tuple[str, str]]:
        """Service-specific headers of a full (`ranged=False`) or partial answer."""
        return []

    def headers(self, obj: StoredObject, ranged: bool) -> CIMultiDict[str]:
        """Every profile header of an answer (a header may repeat, as `x-goog-hash` does)."""
        out: CIMultiDict[str] = CIMultiDict()
        for name, value in (("ETag", self.etag(obj)), ("Last-Modified", self.last_modified(obj))):
            if value is not None:
                out[name] = value
        if self.ranges:
            out["Accept-Ranges"] = "bytes"
        out.extend(self.extra(obj, ranged))
        return out


@attrs.frozen
class S3(Profile):
    """Amazon S3, with SSE-S3 (`kms=False`: the ETag is the MD5) or SSE-KMS (it is not)."""

    kms: bool = False
    multipart_threshold: int = 64 * 1024 * 1024

    def _multipart(self, size: int) -> int:
        """Parts an upload of `size` bytes would have had (1: a single PUT)."""
        return -(-size // self.multipart_threshold) if size > self.multipart_threshold else 1

    def needs_digests(self, size: int) -> bool:
        return not self.kms and self._multipart(size) == 1

    def etag(self, obj: StoredObject) -> str:
        parts = self._multipart(obj.size)
        if parts > 1:  # the MD5 of the parts' MD5s: opaque to a downloader
            return f'"{obj.tag("multipart")[:32]}-{parts}"'
        if self.kms:  # an encrypted object's ETag: 32 hex digits, but not its MD5
            return f'"{hmac.new(_KMS_KEY, obj.identity.encode(), "md5").hexdigest()}"'
        return f'"{obj.md5.hex()}"'

    def extra(self, obj: StoredObject, ranged: bool) -> list[tuple[str, str]]:
        if self.kms:
            return [
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", _KMS_KEY_ARN),
            ]
        return [("x-amz-server-side-encryption", "AES256")]


class Gcs(Profile):
    """Google Cloud Storage: opaque ETag; checksums in `x-goog-hash`, always of the whole object."""

    def needs_digests(self, size: int) -> bool:
        return True

    def generation(self, obj: StoredObject) -> int:
        """A microsecond-timestamp generation, as GCS numbers object versions."""
        return int(obj.modified.timestamp()) * 1_000_000 + int(obj.tag("gen"), 16) % 1_000_000

    def etag(self, obj: StoredObject) -> str:
        # GCS's ETag is base64 of a protobuf {1: generation, 2: metageneration}, e.g. "CJ+1p8b...".
        raw = b"\x08" + _varint(self.generation(obj)) + b"\x10\x01"
        return f'"{b64(raw)}"'

    def extra(self, obj: StoredObject, ranged: bool) -> list[tuple[str, str]]:
        assert obj.digests is not None
        return [
            ("x-goog-generation", str(self.generation(obj))),
            ("x-goog-metageneration", "1"),
            ("x-goog-stored-content-encoding", "identity"),
            ("x-goog-stored-content-length", str(obj.size)),
            ("x-goog-storage-class", "STANDARD"),
            ("x-goog-hash", f"crc32c={b64(obj.digests.crc32c.to_bytes(4, 'big'))}"),
            ("x-goog-hash", f"md5={b64(obj.md5)}"),
        ]


def _varint(value: int) -> bytes:
    """A protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out) + bytes([value])


class Azure(Profile):
    """Azure Blob Storage: `0x8D…` ETag; the blob's MD5 as Content-MD5, or on a range apart."""

    def needs_digests(self, size: int) -> bool:
        return True

    def etag(self, obj: StoredObject) -> str:
        return f'"0x8D{obj.tag("azure")[:13].upper()}"'

    def extra(self, obj: StoredObject, ranged: bool) -> list[tuple[str, str]]:
        # On a range, Content-MD5 would have to be the range's; Azure names the blob's apart.
        md5 = ("x-ms-blob-content-md5" if ranged else "Content-MD5", b64(obj.md5))
        return [md5, ("x-ms-blob-type", "BlockBlob"), ("x-ms-server-encrypted", "true")]


class Plain(Profile):
    """A bare web server: no ranges; a weak ETag and a date, or (every other object) neither."""

    ranges = False

    def validated(self, obj: StoredObject) -> bool:
        """Whether this object gets validators (deterministic per object)."""
        return int(obj.tag("plain")[0], 16) % 2 == 0

    def etag(self, obj: StoredObject) -> str | None:
        return f'W/"{obj.tag("weak")[:16]}"' if self.validated(obj) else None

    def last_modified(self, obj: StoredObject) -> str | None:
        return super().last_modified(obj) if self.validated(obj) else None


def make_profile(name: str, multipart_threshold: int) -> Profile:
    """The profile called `name` (one of `PROFILE_NAMES`)."""
    if name in ("s3", "s3-kms"):
        return S3(kms=name == "s3-kms", multipart_threshold=multipart_threshold)
    profiles: dict[str, type[Profile]] = {"gcs": Gcs, "azure": Azure, "plain": Plain}
    return profiles[name]()
