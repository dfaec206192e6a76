"""Message-push signatures and safe-mode crypto (app/wechat/push_crypto.py, WECHAT.md §5.4)."""

import base64
import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.wechat.push_crypto import MessageCrypto, PushCryptoError, signature, signature_ok

# The values of WeChat's own WXBizMsgCrypt sample.
TOKEN = "pamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wxb11529c136998cb6"
TIMESTAMP = "1409304348"
NONCE = "xxxxxx"
RANDOM16 = b"0123456789abcdef"


@pytest.fixture
def crypto() -> MessageCrypto:
    return MessageCrypto(TOKEN, AES_KEY, APP_ID)


def raw_key() -> bytes:
    key = base64.b64decode(AES_KEY + "=")
    assert len(key) == 32
    return key


def encrypt_by_hand(body: bytes) -> str:
    """AES-256-CBC of an already padded body, with iv = key[:16], base64-encoded."""
    key = raw_key()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def sign(encrypt: str) -> str:
    return signature(TOKEN, TIMESTAMP, NONCE, encrypt)


# --- signatures -------------------------------------------------------------------------------


def test_url_verification_signature_is_sha1_of_sorted_parts() -> None:
    # Sorted: "1409304348" < "pamtest" < "xxxxxx".
    expected = hashlib.sha1(b"1409304348pamtestxxxxxx").hexdigest()
    assert signature(TOKEN, TIMESTAMP, NONCE) == expected
    assert signature_ok(TOKEN, expected, TIMESTAMP, NONCE)
    assert not signature_ok(TOKEN, expected.upper(), TIMESTAMP, NONCE)
    assert not signature_ok(TOKEN, expected, TIMESTAMP, "yyyyyy")
    assert not signature_ok("other", expected, TIMESTAMP, NONCE)


def test_msg_signature_includes_encrypt() -> None:
    expected = hashlib.sha1("".join(sorted([TOKEN, TIMESTAMP, NONCE, "ENC"])).encode()).hexdigest()
    assert signature(TOKEN, TIMESTAMP, NONCE, "ENC") == expected
    assert signature_ok(TOKEN, expected, TIMESTAMP, NONCE, "ENC")
    assert not signature_ok(TOKEN, expected, TIMESTAMP, NONCE)  # Encrypt left out
    assert not signature_ok(TOKEN, expected, TIMESTAMP, NONCE, "ENC2")


def test_signature_ok_rejects_non_ascii_without_raising() -> None:
    assert not signature_ok(TOKEN, "签名", TIMESTAMP, NONCE)


# --- round trips ------------------------------------------------------------------------------


def test_round_trip(crypto: MessageCrypto) -> None:
    pushed = crypto.encrypt("<xml><Content>hi</Content></xml>", timestamp=TIMESTAMP, nonce=NONCE)
    assert set(pushed) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert pushed["TimeStamp"] == TIMESTAMP and pushed["Nonce"] == NONCE
    assert pushed["MsgSignature"] == sign(pushed["Encrypt"])
    message = crypto.decrypt(
        pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE
    )
    assert message == "<xml><Content>hi</Content></xml>"


def test_random_prefix_differs_between_calls(crypto: MessageCrypto) -> None:
    first = crypto.encrypt("same", timestamp=TIMESTAMP, nonce=NONCE)
    second = crypto.encrypt("same", timestamp=TIMESTAMP, nonce=NONCE)
    assert first["Encrypt"] != second["Encrypt"]


@pytest.mark.parametrize(
    "event",
    [
        {"ToUserName": "gh_1", "Event": "wxa_media_check", "trace_id": "t1", "result": {"suggest": "risky"}},
        {"Event": "subscribe_msg_popup_event", "备注": "报修单已受理，请耐心等待⚠️"},
        {"Event": "user_authorization_revoke", "text": "中" * 500},  # many blocks; 3 bytes a character
        {},
    ],
)
def test_round_trip_chinese_json(crypto: MessageCrypto, event: dict[str, object]) -> None:
    plaintext = json.dumps(event, ensure_ascii=False)
    pushed = crypto.encrypt(plaintext, timestamp=TIMESTAMP, nonce=NONCE)
    decrypted = crypto.decrypt(
        pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE
    )
    assert decrypted == plaintext
    assert json.loads(decrypted) == event


@pytest.mark.parametrize("size", range(0, 70))
def test_round_trip_every_padding_length(crypto: MessageCrypto, size: int) -> None:
    # 16 + 4 + size + 18 bytes: over 70 sizes every pad value 1..32 occurs, including a full block.
    plaintext = "x" * size
    pushed = crypto.encrypt(plaintext, timestamp=TIMESTAMP, nonce=NONCE, random16=RANDOM16)
    assert len(base64.b64decode(pushed["Encrypt"])) % 32 == 0
    assert (
        crypto.decrypt(
            pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE
        )
        == plaintext
    )


# --- known answer -----------------------------------------------------------------------------


def test_known_answer_matches_an_independent_encryption(crypto: MessageCrypto) -> None:
    message = '{"Event":"wxa_media_check","备注":"漏水"}'.encode()
    body = RANDOM16 + struct.pack(">I", len(message)) + message + APP_ID.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad] * pad)
    expected = encrypt_by_hand(body)

    pushed = crypto.encrypt(message.decode(), timestamp=TIMESTAMP, nonce=NONCE, random16=RANDOM16)
    assert pushed == {
        "Encrypt": expected,
        "MsgSignature": hashlib.sha1(
            "".join(sorted([TOKEN, TIMESTAMP, NONCE, expected])).encode()
        ).hexdigest(),
        "TimeStamp": TIMESTAMP,
        "Nonce": NONCE,
    }


def test_decrypts_a_message_built_by_hand(crypto: MessageCrypto) -> None:
    message = b"<xml><Event><![CDATA[user_authorization_revoke]]></Event></xml>"
    body = b"R" * 16 + len(message).to_bytes(4, "big") + message + APP_ID.encode()
    pad = 32 - len(body) % 32
    encrypt = encrypt_by_hand(body + bytes([pad] * pad))
    assert crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE) == (
        message.decode()
    )


# --- rejections -------------------------------------------------------------------------------


def test_wrong_signature(crypto: MessageCrypto) -> None:
    pushed = crypto.encrypt("{}", timestamp=TIMESTAMP, nonce=NONCE)
    with pytest.raises(PushCryptoError, match="signature"):
        crypto.decrypt(pushed["Encrypt"], msg_signature="0" * 40, timestamp=TIMESTAMP, nonce=NONCE)
    with pytest.raises(PushCryptoError, match="signature"):  # replayed with another timestamp
        crypto.decrypt(
            pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp="1409304349", nonce=NONCE
        )
    other_token = MessageCrypto("another-token", AES_KEY, APP_ID)
    with pytest.raises(PushCryptoError, match="signature"):
        other_token.decrypt(
            pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE
        )


def test_tampered_ciphertext_fails_the_signature(crypto: MessageCrypto) -> None:
    pushed = crypto.encrypt('{"a":1}', timestamp=TIMESTAMP, nonce=NONCE, random16=RANDOM16)
    data = bytearray(base64.b64decode(pushed["Encrypt"]))
    data[-1] ^= 1
    tampered = base64.b64encode(bytes(data)).decode()
    with pytest.raises(PushCryptoError, match="signature"):
        crypto.decrypt(tampered, msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE)


@pytest.mark.parametrize("index", [0, 3, 16, 20, -17, -1])
def test_tampered_and_re_signed_ciphertext_is_refused(crypto: MessageCrypto, index: int) -> None:
    # Someone with the token but not the key: the signature checks, the content does not.
    pushed = crypto.encrypt('{"Event":"x"}', timestamp=TIMESTAMP, nonce=NONCE, random16=RANDOM16)
    data = bytearray(base64.b64decode(pushed["Encrypt"]))
    data[index] ^= 0x80
    tampered = base64.b64encode(bytes(data)).decode()
    with pytest.raises(PushCryptoError):
        crypto.decrypt(tampered, msg_signature=sign(tampered), timestamp=TIMESTAMP, nonce=NONCE)


def test_wrong_app_id(crypto: MessageCrypto) -> None:
    pushed = MessageCrypto(TOKEN, AES_KEY, "wx0000000000000000").encrypt(
        "{}", timestamp=TIMESTAMP, nonce=NONCE
    )
    with pytest.raises(PushCryptoError, match="app id"):
        crypto.decrypt(
            pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE
        )


def test_app_id_prefix_is_not_enough(crypto: MessageCrypto) -> None:
    pushed = MessageCrypto(TOKEN, AES_KEY, APP_ID + "x").encrypt("{}", timestamp=TIMESTAMP, nonce=NONCE)
    with pytest.raises(PushCryptoError, match="app id"):
        crypto.decrypt(
            pushed["Encrypt"], msg_signature=pushed["MsgSignature"], timestamp=TIMESTAMP, nonce=NONCE
        )


def padded_body(tail: bytes) -> bytes:
    """A 96-byte body whose last bytes are ``tail`` (the padding under test)."""
    message = b"m" * (96 - 16 - 4 - len(APP_ID) - len(tail))
    body = RANDOM16 + struct.pack(">I", len(message)) + message + APP_ID.encode() + tail
    assert len(body) == 96
    return body


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00",  # pad value 0
        bytes([33] * 33),  # more than WeChat's block of 32
        b"\x01\x02\x02\x03\x03",  # last byte 3, but the bytes before it are not all 3
        bytes([7] * 6),  # value 7 but only six 7s (an app id byte before them)
    ],
)
def test_bad_padding(crypto: MessageCrypto, tail: bytes) -> None:
    encrypt = encrypt_by_hand(padded_body(tail))
    with pytest.raises(PushCryptoError, match="padding"):
        crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE)


def test_pad_value_larger_than_the_body(crypto: MessageCrypto) -> None:
    encrypt = encrypt_by_hand(bytes([40] * 32))
    with pytest.raises(PushCryptoError, match="padding"):
        crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE)


def test_valid_padding_is_accepted_by_hand(crypto: MessageCrypto) -> None:
    encrypt = encrypt_by_hand(padded_body(bytes([5] * 5)))
    assert crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE) == "m" * 53


def test_length_field_beyond_the_body(crypto: MessageCrypto) -> None:
    body = RANDOM16 + struct.pack(">I", 1000) + b"{}" + APP_ID.encode()
    pad = 32 - len(body) % 32
    encrypt = encrypt_by_hand(body + bytes([pad] * pad))
    with pytest.raises(PushCryptoError, match="length"):
        crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE)


def test_message_that_is_not_utf8(crypto: MessageCrypto) -> None:
    message = b"\xff\xfe"
    body = RANDOM16 + struct.pack(">I", len(message)) + message + APP_ID.encode()
    pad = 32 - len(body) % 32
    encrypt = encrypt_by_hand(body + bytes([pad] * pad))
    with pytest.raises(PushCryptoError, match="UTF-8"):
        crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE)


@pytest.mark.parametrize(
    "encrypt",
    [
        "",
        "not base64!",
        "密文",
        base64.b64encode(b"x" * 17).decode(),  # not a whole number of AES blocks
    ],
)
def test_malformed_encrypt_field(crypto: MessageCrypto, encrypt: str) -> None:
    with pytest.raises(PushCryptoError):
        crypto.decrypt(encrypt, msg_signature=sign(encrypt), timestamp=TIMESTAMP, nonce=NONCE)


@pytest.mark.parametrize(
    "key",
    [
        "",
        AES_KEY[:-1],  # 42 characters
        AES_KEY + "H",  # 44 characters
        AES_KEY[:-1] + "!",  # not base64
        AES_KEY[:-1] + "=",  # padding inside the key
        "中" * 43,
    ],
)
def test_malformed_key(key: str) -> None:
    with pytest.raises(PushCryptoError):
        MessageCrypto(TOKEN, key, APP_ID)


def test_random16_must_be_16_bytes(crypto: MessageCrypto) -> None:
    with pytest.raises(PushCryptoError):
        crypto.encrypt("{}", timestamp=TIMESTAMP, nonce=NONCE, random16=b"short")


def test_push_crypto_error_is_a_value_error() -> None:
    assert issubclass(PushCryptoError, ValueError)
