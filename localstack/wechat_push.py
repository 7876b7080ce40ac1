#!/usr/bin/env python3
"""Sends a signed WeChat Official Account push to the local demo, as WeChat's servers would.

    python3 localstack/wechat_push.py subscribe oDemoCustomer1
    python3 localstack/wechat_push.py text oDemoCustomer1 "Do you have a room for tonight?"
    python3 localstack/wechat_push.py text oDemoCustomer1 "hello" --aes      # safe mode (encrypted)

Reads the webhook URL and token from localstack/demo.json (written by localstack/run.sh). Standard library only;
the safe-mode encryption uses `openssl enc`.
"""
import argparse
import base64
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def signature(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def encrypt(encoding_aes_key, app_id, plaintext):
    key = base64.b64decode(encoding_aes_key + "=")
    body = os.urandom(16) + struct.pack(">I", len(plaintext)) + plaintext + app_id.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    out = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-nopad", "-K", key.hex(), "-iv", key[:16].hex()],
        input=body, capture_output=True, check=True,
    ).stdout
    return base64.b64encode(out).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["subscribe", "unsubscribe", "text"])
    ap.add_argument("openid")
    ap.add_argument("content", nargs="?", default="Hello")
    ap.add_argument("--aes", action="store_true", help="send in safe mode (encrypt_type=aes)")
    ap.add_argument("--demo", default=os.path.join(HERE, "demo.json"))
    args = ap.parse_args()
    demo = json.load(open(args.demo))
    ch = demo["channels"][0]
    now = int(time.time())
    if args.kind == "text":
        inner = (f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{args.content}]]></Content>"
                 f"<MsgId>{random.randint(10**15, 10**16 - 1)}</MsgId>")
    else:
        inner = f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{args.kind}]]></Event>"
    xml = (f"<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[{args.openid}]]></FromUserName>"
           f"<CreateTime>{now}</CreateTime>{inner}</xml>")
    ts, nonce = str(now), str(random.randint(10**8, 10**9))
    query = f"signature={signature(ch['token'], ts, nonce)}&timestamp={ts}&nonce={nonce}"
    if args.aes:
        enc = encrypt(ch["encoding_aes_key"], ch["app_id"], xml.encode())
        query += f"&encrypt_type=aes&msg_signature={signature(ch['token'], ts, nonce, enc)}"
        xml = f"<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    req = urllib.request.Request(f"{ch['webhook_url']}?{query}", data=xml.encode(),
                                 headers={"content-type": "text/xml"}, method="POST")
    try:
        with urllib.request.urlopen(req) as resp:
            print(resp.status, resp.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
        sys.exit(1)


if __name__ == "__main__":
    main()
