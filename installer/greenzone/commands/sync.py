"""`greenzone sync` and `greenzone parity`: options in, the cloud copy's session (sync/session.py) does the rest."""

from __future__ import annotations

import argparse

from greenzone.results import Report
from greenzone.sync.session import ParityOptions, Request
from greenzone.sync.session import parity as run_parity
from greenzone.sync.session import sync as run_sync


def _request(args: argparse.Namespace) -> Request:
    return Request(args.target, args.answers, args.bundle, args.helm)


def sync(args: argparse.Namespace) -> Report:
    return run_sync(_request(args), key=args.key, render_only=args.render_only, timeout=args.timeout)


def parity(args: argparse.Namespace) -> Report:
    options = ParityOptions(
        onprem_kubeconfig=args.onprem_kubeconfig,
        onprem_context=args.onprem_context,
        cloud_rendered=args.cloud_rendered,
        onprem_endpoint=args.onprem_endpoint,
        onprem_ca=args.onprem_ca,
        onprem_key_env=args.onprem_key_env,
        cloud_endpoint=args.cloud_endpoint,
        cloud_key_env=args.cloud_key_env,
        prompts=args.prompts,
        report=args.report,
        registry=not args.no_registry,
    )
    return run_parity(_request(args), options)
