"""The reader's web page (Gradio)."""

from askai.ui.app import build_app, serve

__all__ = ["build_app", "serve"]
