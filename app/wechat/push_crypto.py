"""WeChat message push: URL-verification signatures and safe-mode message crypto (WECHAT.md §5.4).

* URL verification (GET ``?signature&timestamp&nonce&echostr``): ``signature_ok(token, ...)``, then
  answer ``echostr`` verbatim.
* Safe mode (POST with ``msg_signature``): the body's ``Encrypt`` field is the standard
  WXBizMsgCrypt scheme, as in wechatpy's ``WeChatCrypto``:

  - key = base64(EncodingAESKey + "=") (32 bytes), iv = key[:16], AES-256-CBC;
  - plaintext = random(16) + len(message) as 4 bytes big-endian + message + app_id;
  - padding is PKCS#7 with a block size of 32 (pad bytes 1..32), not AES's 16;
  - msg_signature = sha1 of the sorted concatenation of token, timestamp, nonce and Encrypt.
"""

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32  # WeChat pads to 32 bytes, although AES blocks are 16.


class PushCryptoError(ValueError):
    """A pushed message that fails its signature or cannot be decrypted, or a malformed key."""


def _sha1_sorted(parts: list[str]) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature(token: str, timestamp: str, nonce: str, encrypt: str | None = None) -> str:
    """sha1 hex of the sorted, concatenated parts (``encrypt`` only for safe-mode ``msg_signature``)."""
    return _sha1_sorted([token, timestamp, nonce] + ([encrypt] if encrypt is not None else []))


def signature_ok(token: str, signature: str, timestamp: str, nonce: str, encrypt: str | None = None) -> bool:
    """Whether ``signature`` is the one WeChat computes; constant-time comparison."""
    expected = _sha1_sorted([token, timestamp, nonce] + ([encrypt] if encrypt is not None else []))
    return hmac.compare_digest(expected.encode(), signature.encode())


class MessageCrypto:
    """Encrypt and decrypt safe-mode pushed messages for one mini-program."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise PushCryptoError("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError as err:  # binascii.Error, or non-ASCII text
            raise PushCryptoError("EncodingAESKey is not base64") from err
        if len(key) != 32:
            raise PushCryptoError("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.app_id = app_id
        self._key = key
        self._iv = key[:16]

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(
        self, plaintext: str, *, timestamp: str, nonce: str, random16: bytes | None = None
    ) -> dict[str, str]:
        """The JSON body WeChat would push: ``Encrypt``, ``MsgSignature``, ``TimeStamp``, ``Nonce``."""
        random16 = os.urandom(16) if random16 is None else random16
        if len(random16) != 16:
            raise PushCryptoError("random16 must be 16 bytes")
        message = plaintext.encode()
        body = random16 + struct.pack(">I", len(message)) + message + self.app_id.encode()
        pad = BLOCK_SIZE - len(body) % BLOCK_SIZE
        body += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        encrypt = base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()
        return {
            "Encrypt": encrypt,
            "MsgSignature": signature(self.token, timestamp, nonce, encrypt),
            "TimeStamp": timestamp,
            "Nonce": nonce,
        }

    def decrypt(self, encrypt: str, *, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The pushed message (JSON or XML text); PushCryptoError unless authentic and well formed."""
        if not signature_ok(self.token, msg_signature, timestamp, nonce, encrypt):
            raise PushCryptoError("signature")
        try:
            data = base64.b64decode(encrypt, validate=True)
        except ValueError as err:  # binascii.Error, or non-ASCII text
            raise PushCryptoError("Encrypt is not base64") from err
        if not data or len(data) % 16:
            raise PushCryptoError("ciphertext length")
        decryptor = self._cipher().decryptor()
        body = decryptor.update(data) + decryptor.finalize()
        pad = body[-1]
        if not 1 <= pad <= BLOCK_SIZE or pad > len(body) or body[-pad:] != bytes([pad]) * pad:
            raise PushCryptoError("padding")
        body = body[:-pad]
        if len(body) < 20:
            raise PushCryptoError("too short")
        (length,) = struct.unpack(">I", body[16:20])
        if 20 + length > len(body):
            raise PushCryptoError("length")
        message, app_id = body[20 : 20 + length], body[20 + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode()):
            raise PushCryptoError("app id")
        try:
            return message.decode()
        except UnicodeDecodeError as err:
            raise PushCryptoError("message is not UTF-8") from err
