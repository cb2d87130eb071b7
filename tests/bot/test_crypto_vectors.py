"""Known answers from ../shared/wechat/vectors.md (official samples) for the crypto path."""
from __future__ import annotations

import pytest
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from bot.wxcrypto import CallbackError, Crypto, sha1_signature, signature_ok


def test_v2_official_mp_sample_decrypts_compat_packet():
    crypto = Crypto("spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2")
    encrypt = ("hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=")
    plain = crypto.decrypt(encrypt, "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132")
    assert plain == ('<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n'
                     '<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n'
                     '<MsgId>6054768590064713728</MsgId>\n</xml>')
    msg = parse_message(plain)
    assert (msg.id, msg.source, msg.content) == (6054768590064713728, "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "abcdteT")

    with pytest.raises(CallbackError) as e:   # one wrong hex digit of the signature
        crypto.decrypt(encrypt, "5d197aaffba7e9b25a30732f161a50dee96bd5fb", "1409735669", "1320562132")
    assert e.value.status == 403
    wrong_app = Crypto("spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx_wrong")
    with pytest.raises(CallbackError) as e:
        wrong_app.decrypt(encrypt, "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132")
    assert e.value.status == 403


def test_v3_official_java_sample_encrypts_deterministically(monkeypatch):
    monkeypatch.setattr(PrpCrypto, "get_random_string", lambda self: "aaaabbbbccccdddd")
    crypto = Crypto("pamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6")
    out = crypto.encrypt("我是中文abcd123", "xxxxxx", "1409304348")
    assert "<Encrypt><![CDATA[jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==]]></Encrypt>" in out
    assert "<MsgSignature><![CDATA[82c962d39941aa48552f90ef55aa323dc620cc10]]></MsgSignature>" in out
    # and it opens again through our decrypt path (signature checked in constant time)
    plain = crypto.decrypt("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==",
                           "82c962d39941aa48552f90ef55aa323dc620cc10", "1409304348", "xxxxxx")
    assert plain == "我是中文abcd123"


def test_v3_plaintext_url_signature():
    expected = sha1_signature("pamtest", "1409304348", "xxxxxx")
    assert expected == "76480565cbe296026c53aaacd1ad523a1ddba24f"
    assert signature_ok(expected, "76480565cbe296026c53aaacd1ad523a1ddba24f")
    assert signature_ok(expected, "76480565CBE296026C53AAACD1AD523A1DDBA24F")
    assert not signature_ok(expected, "76480565cbe296026c53aaacd1ad523a1ddba24e")
    assert not signature_ok(expected, "")
    assert not signature_ok(expected, None)


def test_v1_wecom_vectors_same_algorithm():
    token, key, corp = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
    crypto = Crypto(token, key, corp)
    echo = crypto.decrypt("4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
                          "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425")
    assert echo == "5927782489442352469"
    with pytest.raises(CallbackError):
        crypto.decrypt("4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
                       "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374424")
    body = ("RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=")
    plain = crypto.decrypt(body, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294")
    assert "<Content><![CDATA[test]]></Content>" in plain and "<FromUserName><![CDATA[messense]]></FromUserName>" in plain


def test_v1b_encrypt_matches_wechatpy_known_answer(monkeypatch):
    monkeypatch.setattr(PrpCrypto, "get_random_string", lambda self: "1234567890123456")
    reply = ("<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
             "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
             "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>")
    out = Crypto("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a").encrypt(reply, "461056294", "1411525903")
    assert "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>" in out
    assert out.count("9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk") == 1


@pytest.mark.parametrize("token,key,corp,sig,ts,nonce,echo,expected", [
    ("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7", "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
     "1409659589", "263014780", "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==", "1616140317555161061"),
    ("hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "ww1436e0e65a779aee",
     "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "1476416373", "47744683",
     "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==", "1288432023552776189"),
])
def test_v4_v5_wecom_verify_url(token, key, corp, sig, ts, nonce, echo, expected):
    assert Crypto(token, key, corp).decrypt(echo, sig, ts, nonce) == expected
    assert WeComCrypto(token, key, corp).check_signature(sig, ts, nonce, echo) == expected


def test_v5_plaintext_without_cdata_is_parsed():
    from bot.wxcrypto import xml_fields
    crypto = Crypto("hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "ww1436e0e65a779aee")
    enc = ("Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+")
    plain = crypto.decrypt(enc, "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914")
    fields = xml_fields(plain)
    assert fields["FromUserName"] == "ChenJiaShun" and fields["Content"] == "你好" and fields["MsgId"] == "1456453720"
