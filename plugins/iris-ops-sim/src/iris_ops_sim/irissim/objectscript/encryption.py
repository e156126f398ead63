"""%SYSTEM.Encryption (``ref/2024.1/%SYSTEM/Encryption.cls``): the few methods the tool's scripts
and the simulated password store use.

Binary strings are ObjectScript strings whose characters are all below 256 (one character per
byte, as ``GenCryptRand`` documents: "On Unicode systems all values are < 256").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from .runtime import OMITTED, ByRef, IrisError, Process, SimClass, error_status, ok_status, register_class, set_ref
from .values import to_num, to_str

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PBKDF2_BITS", "to_bytes", "from_bytes", "random_binary", "pbkdf2", "SystemEncryption", "SHA_BITS"]

#: PBKDF2 ``bitlength`` -> hashlib name (the legal values the reference lists).
PBKDF2_BITS = {160: "sha1", 224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}
#: SHAHashStream's legal ``bitlength`` values are the same (SHA-1 and the SHA-2 family).
SHA_BITS = PBKDF2_BITS


def _value(v: Any) -> Any:
    return v.get("") if isinstance(v, ByRef) else v


def to_bytes(text: str) -> bytes:
    """A binary string as bytes.  [UNV] a character above 255 is ``<WIDE CHAR>`` (stricter than
    silently truncating it)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise IrisError("WIDE CHAR") from None


def from_bytes(data: bytes) -> str:
    return data.decode("latin-1")


def random_binary(length: int) -> str:
    return from_bytes(secrets.token_bytes(length))


def pbkdf2(password: str, iterations: int, salt: str, key_length: int, bits: int = 160) -> str:
    """PBKDF2 as ``$SYSTEM.Encryption.PBKDF2`` computes it (NIST SP 800-132, HMAC-SHA of ``bits``)."""
    algorithm = PBKDF2_BITS.get(int(bits))
    if algorithm is None or iterations < 1 or key_length < 1:
        raise IrisError("ILLEGAL VALUE")  # [UNV] the reference lists the legal values only
    return from_bytes(hashlib.pbkdf2_hmac(algorithm, to_bytes(password), to_bytes(salt), iterations, key_length))


@register_class
class SystemEncryption(SimClass):
    """%SYSTEM.Encryption (``ref/2024.1/%SYSTEM/Encryption.cls``), also ``$SYSTEM.Encryption``."""

    name = "%SYSTEM.Encryption"

    def Base64Encode(self, proc: Process, text: Any, flags: Any = OMITTED) -> str:
        """Base64Encode(Text, Flags=0): Flags 0 inserts CR/LF after every 76 characters.  A string
        with characters above 255 cannot be encoded ("translate it to UTF8 first")."""
        data = to_bytes(to_str(_value(text)))
        encoded = base64.b64encode(data).decode("ascii")
        if flags is OMITTED or int(to_num(_value(flags))) == 0:
            encoded = "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
        return encoded

    def Base64Decode(self, proc: Process, text: Any) -> str:
        """Base64Decode(Text): the decoded binary string.  [UNV] text that is not Base64 (CR/LF
        aside) is ``<ILLEGAL VALUE>``, not a silently shortened result."""
        cleaned = to_str(_value(text)).replace("\r", "").replace("\n", "")
        try:
            return from_bytes(base64.b64decode(cleaned.encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise IrisError("ILLEGAL VALUE") from None

    def PBKDF2(self, proc: Process, password: Any, iterations: Any, salt: Any, key_length: Any,
               bits: Any = OMITTED) -> str:
        """PBKDF2(Password, Iterations, Salt, KeyLength, bitlength=160) As %String."""
        width = 160 if bits is OMITTED else int(to_num(_value(bits)))
        return pbkdf2(to_str(_value(password)), int(to_num(_value(iterations))), to_str(_value(salt)),
                      int(to_num(_value(key_length))), width)

    def GenCryptRand(self, proc: Process, length: Any, best: Any = OMITTED) -> str:
        """GenCryptRand(Length, RequireBestEntropy): a random binary string."""
        return random_binary(int(to_num(_value(length))))

    def SHAHashStream(self, proc: Process, bits: Any, stream: Any, sc: Any = OMITTED) -> str:
        """SHAHashStream(bitlength, input As %Stream.Object, ByRef sc) As %String: the hash,
        "one byte per character".  bitlength 160, 224, 256, 384 or 512; any other is
        ``<ILLEGAL VALUE>`` [UNV].  Only a %Stream.FileBinary is simulated (anything else that is
        not a stream: ``<INVALID OREF>``).  [UNV] the stream is read from its current position to
        its end (the reference does not say whether it rewinds: a caller that read part of it
        first gets the hash of the rest); a file that cannot be read sets ``sc`` to an error and
        gives ""."""
        algorithm = SHA_BITS.get(int(to_num(_value(bits))))
        if algorithm is None:
            raise IrisError("ILLEGAL VALUE")
        source = _value(stream)
        reader = getattr(source, "chunks", None)
        if reader is None:
            raise IrisError("INVALID OREF")
        chunks = reader(proc)
        args = [sc]
        if chunks is None:
            set_ref(args, 0, error_status(5001, f"Unable to open file {getattr(source, 'filename', '')}"))
            return ""
        digest = hashlib.new(algorithm)
        for data in chunks:
            digest.update(data)
        set_ref(args, 0, ok_status())
        return from_bytes(digest.digest())
