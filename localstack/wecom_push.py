#!/usr/bin/env python3
"""Sends WeCom (企业微信) callbacks to the local demo's WeCom channel, encrypted and signed as WeCom's servers do.

    python3 localstack/wecom_push.py verify                       # the URL verification (GET with an echostr)
    python3 localstack/wecom_push.py text zhangsan "会议室投影仪坏了"  # a member writes to the app
    python3 localstack/wecom_push.py event zhangsan enter_agent    # a member opens the app

Reads the channel (kind "wecom", mainland edition: `KEFU_EDITION=mainland bash localstack/run.sh`) from
localstack/demo.json. Standard library only; the encryption uses `openssl enc`.
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
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def signature(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def encrypt(encoding_aes_key, corp_id, plaintext):
    key = base64.b64decode(encoding_aes_key + "=")
    body = os.urandom(16) + struct.pack(">I", len(plaintext)) + plaintext + corp_id.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    out = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-nopad", "-K", key.hex(), "-iv", key[:16].hex()],
        input=body, capture_output=True, check=True,
    ).stdout
    return base64.b64encode(out).decode()


def send(req):
    try:
        with urllib.request.urlopen(req) as resp:
            print(resp.status, resp.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["verify", "text", "event"])
    ap.add_argument("user", nargs="?", default="zhangsan", help="the member's UserID")
    ap.add_argument("content", nargs="?", default="Hello", help="text, or the event name")
    ap.add_argument("--demo", default=os.path.join(HERE, "demo.json"))
    args = ap.parse_args()
    demo = json.load(open(args.demo))
    channels = [c for c in demo["channels"] if c["kind"] == "wecom"]
    if not channels:
        sys.exit("no WeCom channel in the demo: run `KEFU_EDITION=mainland bash localstack/run.sh`")
    ch = channels[0]
    now = int(time.time())
    ts, nonce = str(now), str(random.randint(10**8, 10**9))

    if args.kind == "verify":
        echo = str(random.randint(10**17, 10**18))
        enc = encrypt(ch["encoding_aes_key"], ch["corp_id"], echo.encode())
        query = urllib.parse.urlencode({
            "msg_signature": signature(ch["token"], ts, nonce, enc), "timestamp": ts, "nonce": nonce, "echostr": enc,
        })
        print(f"expecting {echo}")
        send(urllib.request.Request(f"{ch['webhook_url']}?{query}"))
        return

    if args.kind == "text":
        inner = (f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{args.content}]]></Content>"
                 f"<MsgId>{random.randint(10**18, 9 * 10**18)}</MsgId>")
    else:
        inner = (f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{args.content}]]></Event>"
                 f"<EventKey><![CDATA[]]></EventKey>")
    xml = (f"<xml><ToUserName><![CDATA[{ch['corp_id']}]]></ToUserName><FromUserName><![CDATA[{args.user}]]></FromUserName>"
           f"<CreateTime>{now}</CreateTime>{inner}<AgentID>{ch['agent_id']}</AgentID></xml>")
    enc = encrypt(ch["encoding_aes_key"], ch["corp_id"], xml.encode())
    body = (f"<xml><ToUserName><![CDATA[{ch['corp_id']}]]></ToUserName><AgentID><![CDATA[{ch['agent_id']}]]></AgentID>"
            f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>")
    query = urllib.parse.urlencode({"msg_signature": signature(ch["token"], ts, nonce, enc), "timestamp": ts, "nonce": nonce})
    send(urllib.request.Request(f"{ch['webhook_url']}?{query}", data=body.encode(),
                                headers={"content-type": "text/xml"}, method="POST"))


if __name__ == "__main__":
    main()
