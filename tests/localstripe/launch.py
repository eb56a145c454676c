"""Runs localstripe on loopback, with the fields async-stripe requires.

localstripe (a stateful fake Stripe server) replies with objects shaped for
an old API version: a PaymentIntent lacks `amount_capturable`,
`amount_received`, `confirmation_method` and `payment_method_types`, its
`latest_charge` is an object instead of an id, and events lack
`pending_webhooks`. async-stripe, generated from today's API, refuses such
objects. This launcher patches localstripe's export to fill them in and
binds 127.0.0.1 only (localstripe's own launcher binds every interface).

    python launch.py --port 8420
"""

import argparse
import logging

from aiohttp import web

import localstripe.resources as resources
from localstripe.server import app

_export = resources.StripeObject._export


def _id_of(value):
    return value.get("id") if isinstance(value, dict) else value


def _compatible(obj):
    kind = obj.get("object")
    if kind == "payment_intent":
        succeeded = obj.get("status") == "succeeded"
        obj.setdefault("amount_capturable", 0)
        obj.setdefault("amount_received", obj.get("amount", 0) if succeeded else 0)
        obj.setdefault("confirmation_method", "automatic")
        obj.setdefault("payment_method_types", ["card"])
        obj["latest_charge"] = _id_of(obj.get("latest_charge"))
        obj.pop("charges", None)
        error = obj.get("last_payment_error")
        if isinstance(error, dict):
            error.setdefault("type", "card_error")
    elif kind == "refund":
        obj["payment_intent"] = _id_of(obj.get("payment_intent"))
        obj["charge"] = _id_of(obj.get("charge"))
    elif kind == "event":
        obj.setdefault("pending_webhooks", 1)
        obj.setdefault("request", {"id": None, "idempotency_key": None})
    return obj


def _patched_export(self, expand=None):
    return _compatible(_export(self, expand=expand))


resources.StripeObject._export = _patched_export


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    web.run_app(app, host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
